"""site calibration: a run made by `cxr calibrate` from another run and a small labelled sample
of a new site, its refitted method, the sample's class counts and the bootstrap intervals of
sensitivity and specificity at its threshold; the sample's dataset marks the evaluation on it
as the calibration sample

Revision ID: 0019
Revises: 0018

"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_calibrations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("source_run_id", sa.Integer(), nullable=True),
        sa.Column("sample_dataset_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("n_normal", sa.Integer(), nullable=False),
        sa.Column("n_pneumonia", sa.Integer(), nullable=False),
        sa.Column("sensitivity", sa.Float(), nullable=False),
        sa.Column("sensitivity_low", sa.Float(), nullable=False),
        sa.Column("sensitivity_high", sa.Float(), nullable=False),
        sa.Column("specificity", sa.Float(), nullable=False),
        sa.Column("specificity_low", sa.Float(), nullable=False),
        sa.Column("specificity_high", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("n_resamples", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"],
                                name=op.f("fk_site_calibrations_run_id_runs"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["source_run_id"], ["runs.id"],
                                name=op.f("fk_site_calibrations_source_run_id_runs"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["sample_dataset_id"], ["datasets.id"],
                                name=op.f("fk_site_calibrations_sample_dataset_id_datasets"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_site_calibrations")),
    )
    with op.batch_alter_table("site_calibrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_calibrations_sample_dataset_id"),
                              ["sample_dataset_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("site_calibrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_calibrations_sample_dataset_id"))
    op.drop_table("site_calibrations")
