"""Brings the examples schema up to date with Alembic (the migrations live beside this file)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import OperationalError

from mlseam.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(dsn: str) -> Config:
    """An Alembic config for ``dsn`` (a ``postgresql://`` URL) and our migrations folder."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    url = dsn.replace("postgresql://", "postgresql+psycopg2://", 1)
    # ConfigParser interpolation treats '%' specially; URL-encoded passwords contain it.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(dsn: str, revision: str = "head") -> None:
    """Upgrade the database at ``dsn`` to ``revision``; StoreError when it cannot be reached."""
    try:
        command.upgrade(alembic_config(dsn), revision)
    except OperationalError as exc:
        raise StoreError(
            f"cannot migrate: {str(exc.orig).strip().splitlines()[0]}; is the database up (locally: make run)?"
        ) from exc
