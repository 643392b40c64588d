"""``mlseam monitor``: live quality and drift of a service, measured off the request path and stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlseam.cli.console import out, user_errors
from mlseam.cli.context import ServiceArg, load_context
from mlseam.errors import ConfigError
from mlseam.manifest import Service
from mlseam.stores import Stores

if TYPE_CHECKING:
    from mlseam.monitoring import MonitorResult


@user_errors
def monitor_command(
    service: ServiceArg,
    window_hours: Annotated[
        float, typer.Option(min=0.01, help="hours of logged traffic whose drift is judged against the champion")
    ] = 24.0,
) -> None:
    """Measure each version on its labelled predictions and the champion's live inputs for drift.

    Joins the labels sent with a prediction_id to the logged predictions, runs each version's own
    evaluate() on them, and compares the last window of logged inputs and outputs with the
    champion's training profile (PSI). Both are stored beside the versions in the registry and shown
    by `mlseam status` and GET /<service>/v1/model. Exit code: 0 done, 1 a store error.
    """
    from datetime import timedelta

    _, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    if stores.predictions is None:
        raise ConfigError("the prediction log is off (MLSEAM_PREDICTION_LOG=false): there is nothing to monitor")
    result = monitor_with(stores, loaded, window=timedelta(hours=window_hours))
    for line in result.lines:
        out().print(line, markup=False, highlight=False, soft_wrap=True)


def monitor_with(stores: Stores, service: Service, **options: Any) -> MonitorResult:
    """``monitor_service`` on the process's stores (the prediction log must be on)."""
    from mlseam.monitoring import monitor_service

    assert stores.predictions is not None  # noqa: S101 - callers check that the log is on
    return monitor_service(
        service,
        examples=stores.examples,
        predictions=stores.predictions,
        registry=stores.registry,
        artifacts=stores.artifacts,
        events=stores.events,
        **options,
    )
