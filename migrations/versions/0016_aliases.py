"""run aliases: `production` (and any other name) points at one run, set by an admin, with its
history (one row per assignment, ended by `replaced_at`); upload_scores.from_production records
whether a score came from the production run when it was stored (NULL for older scores)

Revision ID: 0016
Revises: 0015

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=60), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=120), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("forced_past", sa.String(length=400), nullable=True),
        sa.Column("replaced_at", sa.DateTime(), nullable=True),
        sa.Column("replaced_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_aliases_run_id_runs"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["set_by_id"], ["users.id"],
                                name=op.f("fk_run_aliases_set_by_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_aliases")),
    )
    with op.batch_alter_table("run_aliases", schema=None) as batch_op:
        batch_op.create_index("ix_run_aliases_alias_set_at", ["alias", "set_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_aliases_run_id"), ["run_id"], unique=False)
        batch_op.create_index("uq_run_aliases_current", ["alias"], unique=True,
                              sqlite_where=sa.text("replaced_at IS NULL"),
                              postgresql_where=sa.text("replaced_at IS NULL"))
    with op.batch_alter_table("upload_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_production", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload_scores", schema=None) as batch_op:
        batch_op.drop_column("from_production")
    with op.batch_alter_table("run_aliases", schema=None) as batch_op:
        batch_op.drop_index("uq_run_aliases_current")
        batch_op.drop_index(batch_op.f("ix_run_aliases_run_id"))
        batch_op.drop_index("ix_run_aliases_alias_set_at")
    op.drop_table("run_aliases")
