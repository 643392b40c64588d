"""Commands that stay up: ``serve`` the APIs, run a batch ``worker``, or the whole ``local-stack``."""

from __future__ import annotations

from typing import Annotated

import typer

from mlseam.cli.console import configure_logging, out, user_errors
from mlseam.cli.context import ServiceArg, ServicesArg
from mlseam.manifest import discover_services, load_service
from mlseam.settings import get_settings
from mlseam.stores import build_stores


@user_errors
def serve_command(
    services: ServicesArg = None,
) -> None:
    """Serve the inference APIs under /<service>/ on MLSEAM_SERVE_HOST:MLSEAM_SERVE_PORT."""
    from mlseam.serving import serve
    from mlseam.serving.server import configure_json_logs

    settings = get_settings()
    configure_json_logs(settings.log_level)
    names = services or discover_services(settings.services_dir)
    for name in names:
        load_service(name, settings.services_dir)  # a bad service is one line before anything starts
    serve(settings, names)


@user_errors
def worker_command(service: ServiceArg) -> None:
    """Process SERVICE's batch chunks from SQS until SIGTERM (finishes the chunk in hand, exits 0)."""
    import signal

    from mlseam.batches.worker import Worker
    from mlseam.serving.server import configure_json_logs

    settings = get_settings()
    configure_json_logs(settings.log_level)
    worker = Worker.for_stores(load_service(service, settings.services_dir), build_stores(settings), settings)

    def stop(signum: int, frame: object) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


@user_errors
def local_stack_command(
    services: Annotated[list[str] | None, typer.Argument(help="only these services (default: every one)")] = None,
    serve: Annotated[bool, typer.Option(help="stay in the foreground until Ctrl-C")] = True,
) -> None:
    """Start PostgreSQL and the AWS emulator on 127.0.0.1, migrate, seed, retrain and serve the services."""
    from mlseam.local.stack import run_local_stack

    settings = get_settings()
    configure_logging(settings)
    for name in services or []:
        load_service(name, settings.services_dir)  # an unknown or broken service is one line before anything starts
    run_local_stack(settings, stay=serve, console=out(), services=services)
