"""What the commands share: their service arguments and the settings and stores they run against."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import configure_logging
from mlseam.manifest import Service, load_service
from mlseam.settings import Settings, get_settings
from mlseam.stores import Stores, build_stores

# The service image sets MLSEAM_SERVICE, so its commands are just `serve`, `worker` and `retrain`.
ServiceArg = Annotated[str, typer.Argument(help="service name: a folder of services/", envvar="MLSEAM_SERVICE")]
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(help="service names (default: MLSEAM_SERVICE, else every service)", envvar="MLSEAM_SERVICE"),
]

ByOption = Annotated[str | None, typer.Option(help="who, kept in the history (default: user@host)")]


def load_context(service: str | None = None) -> tuple[Settings, Stores, Service | None]:
    """The settings, logging on stderr, the stores and, when one is named, the loaded service."""
    settings = get_settings()
    configure_logging(settings)
    loaded = load_service(service, settings.services_dir) if service is not None else None
    return settings, build_stores(settings), loaded
