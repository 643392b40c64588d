"""``mlseam dashboard``: the manager's page, alone, on the same stores as every other command."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import user_errors
from mlseam.settings import get_settings


@user_errors
def dashboard_command(
    api_url: Annotated[
        str | None,
        typer.Option(help="where the APIs answer (readiness, p95)", envvar="MLSEAM_DASHBOARD_API_URL"),
    ] = None,
    prefix: Annotated[
        str, typer.Option(help="path of the pages (/dashboard behind the ALB)", envvar="MLSEAM_DASHBOARD_PREFIX")
    ] = "",
) -> None:
    """Serve the dashboard on MLSEAM_SERVE_HOST:MLSEAM_SERVE_PORT (read-only on the stores)."""
    from mlseam.dashboard.server import serve_dashboard
    from mlseam.serving.server import configure_json_logs

    settings = get_settings()
    configure_json_logs(settings.log_level)
    serve_dashboard(settings, api_url=api_url, prefix=prefix)
