"""session versions and sign-in failures: users.session_version ends every older session of a
user (sign-out, disable, enable, role change, password reset); the back-off of failed sign-ins
moves from two users columns to sign_in_failures, keyed by the name tried, so unknown names are
throttled like known ones

Revision ID: 0012
Revises: 0011

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("name", sa.String), sa.column("failed_signins", sa.Integer),
                 sa.column("last_failed_at", sa.DateTime))
sign_in_failures = sa.table("sign_in_failures", sa.column("name", sa.String),
                            sa.column("failures", sa.Integer),
                            sa.column("last_failed_at", sa.DateTime))


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sign_in_failures")),
    )
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_in_failures_last_failed_at"),
                              ["last_failed_at"], unique=False)
    connection = op.get_bind()
    counted = connection.execute(sa.select(users.c.name, users.c.failed_signins,
                                           users.c.last_failed_at).where(
        users.c.failed_signins > 0, users.c.last_failed_at.is_not(None))).all()
    if counted:
        connection.execute(sign_in_failures.insert(), [
            {"name": name, "failures": failures, "last_failed_at": last}
            for name, failures, last in counted])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.drop_column("last_failed_at")
        batch_op.drop_column("failed_signins")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_signins", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("last_failed_at", sa.DateTime(), nullable=True))
        batch_op.drop_column("session_version")
    connection = op.get_bind()
    for name, failures, last in connection.execute(sa.select(
            sign_in_failures.c.name, sign_in_failures.c.failures,
            sign_in_failures.c.last_failed_at)).all():
        connection.execute(users.update().where(users.c.name == name).values(
            failed_signins=failures, last_failed_at=last))
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_failures_last_failed_at"))
    op.drop_table("sign_in_failures")
