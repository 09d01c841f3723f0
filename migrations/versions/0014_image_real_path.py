"""images.real_path: each file's resolved path as ingest found it (symbolic links followed),
so the dashboard serves a file that lies behind a linked folder, by image id only. Rows
registered before this revision have none and are served as before (inside the dataset root)
until the next `cxr ingest` of their folder records it.

Revision ID: 0014
Revises: 0013

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("real_path", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("real_path")
