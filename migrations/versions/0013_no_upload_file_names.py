"""no uploaded file names: uploads.original_name is dropped (file names of X-rays often hold the
patient's name and record number; an upload is shown as "upload <id>"), and the "uploaded"
audit rows' detail, which repeated the name, keeps only the format and the number of scores

Revision ID: 0013
Revises: 0012

"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The detail 0012 and before wrote: "<file name> (<format>), <n> score(s)" (frozen here).
OLD_DETAIL = re.compile(r"\((JPEG|PNG|DICOM)\), (\d+) score\(s\)$")

audit_events = sa.table("audit_events", sa.column("id", sa.Integer),
                        sa.column("action", sa.String), sa.column("detail", sa.Text))
uploads = sa.table("uploads", sa.column("id", sa.Integer),
                   sa.column("original_name", sa.String))


def new_detail(old: str | None) -> str | None:
    """'DOE_JOHN.dcm (DICOM), 2 score(s)' -> 'DICOM, 2 score(s)'; anything else -> None."""
    found = OLD_DETAIL.search(old or "")
    return f"{found.group(1)}, {found.group(2)} score(s)" if found else None


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(audit_events.c.id, audit_events.c.detail)
                              .where(audit_events.c.action == "uploaded")).all()
    for event_id, detail in rows:
        if new_detail(detail) != detail:
            connection.execute(audit_events.update().where(audit_events.c.id == event_id)
                               .values(detail=new_detail(detail)))
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("original_name")


def downgrade() -> None:
    # The names are gone: 0011's NOT NULL column gets the generated name instead.
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_name", sa.String(length=255), nullable=True))
    connection = op.get_bind()
    connection.execute(uploads.update().values(
        original_name=sa.literal("upload ") + sa.cast(uploads.c.id, sa.String)))
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.alter_column("original_name", existing_type=sa.String(length=255),
                              nullable=False)
