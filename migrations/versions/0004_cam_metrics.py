"""cam metrics

Revision ID: 0004
Revises: 0003

"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cam_metrics_seconds", sa.Float(), nullable=True))

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("border_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lung_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("peak_in_lung", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("lesion_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lesion_hit", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("road_score", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("road_score")
        batch_op.drop_column("lesion_hit")
        batch_op.drop_column("lesion_share")
        batch_op.drop_column("peak_in_lung")
        batch_op.drop_column("lung_share")
        batch_op.drop_column("border_share")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("cam_metrics_seconds")
