"""site adaptation and drift: a run's origin when `cxr adapt` made it from another run on a new
site's images (transductive), and per-evaluation drift statistics against the run's val

Revision ID: 0010
Revises: 0009

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("adapted_from_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("adapted_on_dataset_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_runs_adapted_from_run_id_runs"), "runs",
                                    ["adapted_from_run_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(batch_op.f("fk_runs_adapted_on_dataset_id_datasets"),
                                    "datasets", ["adapted_on_dataset_id"], ["id"],
                                    ondelete="SET NULL")

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drift_psi", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("drift_ks", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_column("drift_ks")
        batch_op.drop_column("drift_psi")

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_runs_adapted_on_dataset_id_datasets"),
                                 type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_runs_adapted_from_run_id_runs"),
                                 type_="foreignkey")
        batch_op.drop_column("adapted_on_dataset_id")
        batch_op.drop_column("adapted_from_run_id")
