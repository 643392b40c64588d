"""Commands that prepare the examples database: ``migrate`` and ``seed``."""

from __future__ import annotations

from mlseam.cli.console import out, user_errors
from mlseam.cli.context import ServiceArg, load_context
from mlseam.settings import get_settings
from mlseam.stores import database_url


@user_errors
def migrate_command() -> None:
    """Bring the examples database schema up to date."""
    from mlseam.examples.migrate import migrate  # Alembic is heavy: only here

    migrate(database_url(get_settings()))
    out().print("examples schema is up to date")


@user_errors
def seed_command(service: ServiceArg) -> None:
    """Load the service's bundled demo data as labelled examples (re-running adds nothing)."""
    from mlseam.training import seed_service

    _, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    total, added = seed_service(loaded, stores)
    out().print(f"{loaded.name}: {total} demo examples, {added} new")
