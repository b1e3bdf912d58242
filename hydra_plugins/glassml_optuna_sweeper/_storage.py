"""Persistent Optuna storage: URL resolution and a clear error when it cannot be opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url

from ._space import SweepConfigError

#: seconds a SQLite writer waits for a lock (parallel trials report to the same file)
SQLITE_TIMEOUT_S = 60


def redact(url: str) -> str:
    """The URL without its password, for logs, errors and result files."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable storage URL>"


def resolve_storage_url(storage: Any, sweep_dir: Path) -> str:
    """SQLAlchemy URL of the study; SQLite files get an absolute path and a parent folder.

    null means `sqlite:///<sweep dir>/optuna.db`. Jobs may run in other directories or on
    other machines, so relative SQLite paths are made absolute here, once.
    """
    if storage is None:
        storage = f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"
    if not isinstance(storage, str):
        raise SweepConfigError(
            f"hydra.sweeper.storage must be an SQLAlchemy URL string such as "
            f"sqlite:///optuna.db or postgresql://user@host/db, got {type(storage).__name__}"
        )
    try:
        url = make_url(storage)
    except Exception as e:
        raise SweepConfigError(f"hydra.sweeper.storage={storage!r} is not a URL: {e}") from e
    if url.get_backend_name() != "sqlite":
        return storage
    if not url.database or url.database == ":memory:":
        raise SweepConfigError(
            "hydra.sweeper.storage: an in-memory SQLite study cannot be shared with the jobs; "
            "give a file, e.g. sqlite:///outputs/optuna/my_study.db"
        )
    path = Path(url.database).expanduser().resolve()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SweepConfigError(
            f"hydra.sweeper.storage={storage!r}: cannot create the folder of the SQLite file: {e}"
        ) from e
    return url.set(database=str(path)).render_as_string(hide_password=False)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Connect (and create the tables) now, so that a bad URL fails before any trial."""
    kwargs: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as e:
        hint = (
            " (install the database driver, e.g. psycopg2-binary for PostgreSQL)"
            if isinstance(e, ImportError)
            else ""
        )
        raise SweepConfigError(
            f"hydra.sweeper.storage={redact(url)}: cannot open the Optuna storage: "
            f"{type(e).__name__}: {e}{hint}"
        ) from e
