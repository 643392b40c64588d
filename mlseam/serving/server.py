"""Runs the APIs under uvicorn (uvloop, httptools): SIGTERM drains in-flight requests, exits 0."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from types import FrameType

import uvicorn
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp

from mlseam.serving.access_log import close_access_log, install_access_log
from mlseam.serving.app import create_app
from mlseam.serving.problems import REQUEST_ID
from mlseam.settings import Settings
from mlseam.stores import Stores


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_json_logs(level: str) -> None:
    """One JSON object per log line on stderr, each with the request id when there is one.

    Access lines (one per request, at INFO) bypass the handler: see ``AccessLog``.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    install_access_log(sys.stderr)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the caller once its socket is bound and models are loaded."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_ready is not None and not self.should_exit:
            self.on_ready()


def serve(
    settings: Settings,
    names: list[str],
    *,
    stores: Stores | None = None,
    on_ready: Callable[[], None] | None = None,
    mounts: Mapping[str, ASGIApp] | None = None,
) -> None:
    """Serve ``names`` (and ``mounts``) on ``settings.serve_host:serve_port`` until SIGINT or SIGTERM."""
    app = create_app(settings, names, stores=stores, mounts=mounts)
    config = uvicorn.Config(
        app,
        host=settings.serve_host,
        port=settings.serve_port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # mlseam's own (RequestContext): one JSON line with the request id
        log_config=None,
        # Nothing reads the client's address, so X-Forwarded-* from the load balancer need not be parsed
        # into it on every request.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
    )
    server = _Server(config, on_ready)
    # uvicorn re-raises the stop signal once it has drained; by then the work is done, so the
    # re-raised signal must not kill the process: SIGTERM after a clean drain exits 0.
    on_main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _drained) for sig in (signal.SIGINT, signal.SIGTERM)} if on_main else {}
    try:
        server.run()
    finally:
        close_access_log()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _drained(signum: int, frame: FrameType | None) -> None:
    """The stop signal uvicorn re-raises after a graceful shutdown: nothing left to do."""
