"""calibration and shifts

Revision ID: 0005
Revises: 0004

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shift", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("ece_uncalibrated", sa.Float(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("temperature", sa.Float(), server_default="1.0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("temperature")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("ece_uncalibrated")
        batch_op.drop_column("shift")
