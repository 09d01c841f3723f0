"""feature maps and look-alikes: an evaluation's features artifact with one 2-D map point per
image, and a run's look-alike index (its training images' features and probabilities)

Revision ID: 0015
Revises: 0014

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_maps",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("features_path", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("n_images", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluations.id"],
                                name=op.f("fk_feature_maps_evaluation_id_evaluations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("evaluation_id", name=op.f("pk_feature_maps")),
    )
    op.create_table(
        "map_points",
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["feature_maps.evaluation_id"],
                                name=op.f("fk_map_points_evaluation_id_feature_maps"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"],
                                name=op.f("fk_map_points_image_id_images"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("evaluation_id", "image_id", name=op.f("pk_map_points")),
    )
    op.create_table(
        "lookalike_indexes",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("n_images", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"],
                                name=op.f("fk_lookalike_indexes_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_lookalike_indexes")),
    )


def downgrade() -> None:
    op.drop_table("lookalike_indexes")
    op.drop_table("map_points")
    op.drop_table("feature_maps")
