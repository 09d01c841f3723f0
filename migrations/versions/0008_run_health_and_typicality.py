"""run health and typicality: optimiser steps per epoch, a run-level warning, the
outside-the-training-population score (fitted per run, stored per prediction and per upload
score), forced scores of inputs that failed the input checks

Revision ID: 0008
Revises: 0007

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("health_warning", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("typicality_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("typicality_threshold", sa.Float(), nullable=True))

    with op.batch_alter_table("epochs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=True))

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outside_share", sa.Float(), nullable=True))

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("typicality", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("outside_population", sa.Boolean(), nullable=True))

    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("input_check", sa.Text(), nullable=True))

    with op.batch_alter_table("upload_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("typicality", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("outside_population", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column("forced", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("upload_scores", schema=None) as batch_op:
        batch_op.drop_column("forced")
        batch_op.drop_column("outside_population")
        batch_op.drop_column("typicality")

    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("input_check")

    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("outside_population")
        batch_op.drop_column("typicality")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("outside_share")

    with op.batch_alter_table("epochs", schema=None) as batch_op:
        batch_op.drop_column("steps")

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("typicality_threshold")
        batch_op.drop_column("typicality_path")
        batch_op.drop_column("health_warning")
