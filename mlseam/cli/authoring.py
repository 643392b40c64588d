"""Commands for ML authors: ``new`` scaffolds a service, ``check`` runs the contract rules on it."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import out, user_errors
from mlseam.cli.context import ServicesArg
from mlseam.manifest import discover_services
from mlseam.settings import get_settings


@user_errors
def new_command(
    name: Annotated[str, typer.Argument(help="service name: a-z, 0-9 and '-', e.g. receipt-totals")],
    task: Annotated[
        str,
        typer.Option(
            help="task kind: image_classification, tabular_classification, tabular_regression, ocr or text_detection"
        ),
    ],
) -> None:
    """Create services/NAME/: service.yaml, a baseline model.py, demo seed.py and a README to fill in."""
    from mlseam.scaffold import create_service

    folder = create_service(name, task, get_settings().services_dir)
    out().print(
        f"created {folder}: fill in its TODOs; `make check SERVICE={name}` checks the contract, "
        f"`make run SERVICES={name}` seeds, retrains and serves it"
    )


@user_errors
def check_command(
    services: ServicesArg = None,
) -> None:
    """Check each service's model against the contract, in memory (no database, no AWS).

    One line per rule; exit code 0 when all pass, 1 when any fails.
    """
    from mlseam.conformance import check_service

    services_dir = get_settings().services_dir
    names = services or discover_services(services_dir)
    passed = True
    for name in names:
        report = check_service(name, services_dir)
        for line in report.lines():
            out().print(line, markup=False, highlight=False, soft_wrap=True)
        passed = passed and report.passed
    raise typer.Exit(0 if passed else 1)
