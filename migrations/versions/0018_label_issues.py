"""label_issues: cleanlab's ranking of a cross-validated run's out-of-fold predictions
(`cxr crossval`), one row per training image, for the Errors page's suspected-label-error queue
and `cxr label-issues`.

Revision ID: 0018
Revises: 0017

"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.Integer(), nullable=False),
        sa.Column("fold", sa.Integer(), nullable=False),
        sa.Column("label_quality", sa.Float(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("suspected", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE",
                                name=op.f("fk_label_issues_run_id_runs")),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE",
                                name=op.f("fk_label_issues_image_id_images")),
        sa.ForeignKeyConstraint(["prediction_id"], ["predictions.id"], ondelete="CASCADE",
                                name=op.f("fk_label_issues_prediction_id_predictions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_issues")),
        sa.UniqueConstraint("run_id", "image_id", name="uq_label_issues_run_image"),
    )
    op.create_index("ix_label_issues_run_rank", "label_issues", ["run_id", "rank"])


def downgrade() -> None:
    op.drop_index("ix_label_issues_run_rank", table_name="label_issues")
    op.drop_table("label_issues")
