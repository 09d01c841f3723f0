"""Every `CXR_*` environment variable, with its type, default and meaning: `CXR_HOME.get()`.

Declared in db/settings.py, the one place every layer can import (db/ imports neither engine/
nor dashboard/); re-exported here as the engine's settings, as engine/errors.py re-exports
UserError."""

from db.settings import (
    ALL,
    CXR_BENCH_PG_PORT,
    CXR_BENCH_POSTGRES_URL,
    CXR_DATA,
    CXR_DATABASE_URL,
    CXR_DEVICE,
    CXR_HOME,
    CXR_HTTPS,
    CXR_MAX_UPLOAD_MB,
    CXR_NIH,
    CXR_NO_PROGRESS,
    CXR_SECRET_KEY,
    CXR_SESSION_HOURS,
    Setting,
)

__all__ = ["ALL", "CXR_BENCH_PG_PORT", "CXR_BENCH_POSTGRES_URL", "CXR_DATA", "CXR_DATABASE_URL",
           "CXR_DEVICE", "CXR_HOME", "CXR_HTTPS", "CXR_MAX_UPLOAD_MB", "CXR_NIH",
           "CXR_NO_PROGRESS", "CXR_SECRET_KEY", "CXR_SESSION_HOURS", "Setting"]
