"""Builds the dashboard from settings, and runs it alone under uvicorn (``mlseam dashboard``)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from mlseam.dashboard.app import create_dashboard_app
from mlseam.dashboard.pages import Reader
from mlseam.dashboard.probes import ApiProbe
from mlseam.serving.app import resolve_token
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores


def build_dashboard(
    settings: Settings, *, api_url: str | None = None, prefix: str = "", stores: Stores | None = None
) -> Starlette:
    """The dashboard on ``settings``' stores; it probes the APIs at ``api_url`` when given.

    It wants the API token when API auth is on (a bearer header, or basic auth with the token as
    password, which a browser asks for), and probes the APIs with the same token.
    """
    token = resolve_token(settings)
    probe = ApiProbe(api_url, token=token) if api_url else None
    reader = Reader(settings, stores or build_stores(settings), probe)
    return create_dashboard_app(reader, prefix=prefix, token=token)


def serve_dashboard(settings: Settings, *, api_url: str | None, prefix: str) -> None:
    """Serve the dashboard on ``serve_host:serve_port`` until SIGINT or SIGTERM."""
    app = build_dashboard(settings, api_url=api_url, prefix=prefix)
    uvicorn.run(app, host=settings.serve_host, port=settings.serve_port, access_log=False, log_config=None)
