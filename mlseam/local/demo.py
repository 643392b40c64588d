"""Fills a fresh local stack: demo examples for every service, then one retrain each."""

from __future__ import annotations

from rich.console import Console

from mlseam.errors import MlseamError
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.status import overview_table
from mlseam.stores import build_stores
from mlseam.training import Retrainer, seed_service


def prepare_services(settings: Settings, console: Console, services: list[str]) -> None:
    """Seed (idempotent) and retrain ``services``; one broken service does not stop the rest."""
    stores = build_stores(settings)
    for name in services:
        try:
            service = load_service(name, settings.services_dir)
            if service.manifest.seed is not None:
                total, added = seed_service(service, stores)
                console.print(f"{name}: {total} demo examples, {added} new")
            outcome = Retrainer.for_settings(service, stores, settings).run()
            console.print(outcome.summary, markup=False, highlight=False, soft_wrap=True)
        except MlseamError as exc:
            console.print(f"{name}: skipped: {exc}", markup=False, highlight=False, soft_wrap=True)


def print_status(settings: Settings, console: Console) -> None:
    """The ``mlseam status`` table."""
    console.print(overview_table(settings, build_stores(settings)))
