"""Alembic environment. The URL comes from the config that db/migrate.py builds, or from
CXR_DATABASE_URL / CXR_HOME when alembic is run by hand with alembic.ini."""

from alembic import context

from db.models import Base
from db.session import database_url, get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url") or database_url()
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with get_engine(url).connect() as connection:
        _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    if connection.dialect.name != "sqlite":
        _configure_and_run(connection)
        return
    # Batch mode rebuilds a SQLite table (copy, DROP, rename). With foreign keys on, that DROP
    # would cascade and delete every child row, so they are off while migrating. The pragma only
    # works outside a transaction, hence the raw driver connection before anything else runs.
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        _configure_and_run(connection)
        problems = raw.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"migration left dangling foreign keys: {problems[:5]}")
        if connection.in_transaction():  # Alembic's read of alembic_version began one
            connection.commit()
    finally:
        if connection.in_transaction():
            connection.rollback()
        # Inside a transaction the pragma is silently ignored, and this connection would go
        # back to the pool with foreign keys off: deletes would stop cascading.
        raw.execute("PRAGMA foreign_keys=ON")


def _configure_and_run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
