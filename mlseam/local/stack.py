"""The local stack behind ``make run`` and the tests: database, emulator, schema, demo data, models."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from urllib.parse import urlsplit

from rich.console import Console

from mlseam.artifacts import create_bucket
from mlseam.aws import aws_client
from mlseam.errors import ConfigError
from mlseam.examples.migrate import migrate
from mlseam.local.aws import LocalAws
from mlseam.local.postgres import LocalPostgres
from mlseam.local.server import Server
from mlseam.registry import create_registry_table
from mlseam.settings import Settings


def _loopback_port(url: str, what: str, setting: str) -> int:
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port is None:
        raise ConfigError(f"{setting}={url}: the local stack only runs {what} on 127.0.0.1 with an explicit port")
    return parts.port


class LocalStack(Server):
    """A real PostgreSQL server and the AWS emulator on the ports ``settings`` point at."""

    def __init__(self, settings: Settings) -> None:
        assert settings.aws_endpoint_url is not None  # noqa: S101 - local settings always set it
        self.settings = settings
        self.postgres = LocalPostgres(
            settings.local_dir / "postgres",
            port=_loopback_port(settings.dsn, "PostgreSQL", "MLSEAM_DATABASE_URL"),
            database=urlsplit(settings.dsn).path.lstrip("/") or "mlseam",
        )
        self.aws = LocalAws(
            port=_loopback_port(settings.aws_endpoint_url, "the AWS emulator", "MLSEAM_AWS_ENDPOINT_URL")
        )

    def start(self) -> None:
        """Start both servers, create the bucket and table (Terraform's job in AWS), migrate."""
        self.settings.local_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        try:
            self.aws.start()
            create_bucket(aws_client(self.settings, "s3"), self.settings.artifacts_bucket, self.settings.aws_region)
            create_registry_table(aws_client(self.settings, "dynamodb"), self.settings.registry_table)
            migrate(self.settings.dsn)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop both servers; the examples stay in ``local_dir`` for the next start."""
        try:
            self.aws.stop()
        finally:
            self.postgres.stop()


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    # Ctrl-C and SIGTERM (ECS, systemd, `kill`) both stop the stack cleanly. SIGINT is set
    # explicitly because a shell starts background jobs with it ignored.
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_local_stack(settings: Settings, *, stay: bool, console: Console) -> None:
    """Start the stack, seed and retrain every service, show status, then wait for Ctrl-C."""
    from mlseam.local.demo import prepare_services, print_status

    with _stop_signals_interrupt():
        stack = LocalStack(settings)
        console.print(f"starting PostgreSQL on {stack.postgres.url} and the AWS emulator on {stack.aws.endpoint_url}")
        try:
            stack.start()
            prepare_services(settings, console)
            print_status(settings, console)
            if stay:
                console.print(
                    "local stack is up; `.venv/bin/mlseam status` works from another terminal. Ctrl-C stops it."
                )
                threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping the local stack")
        finally:
            stack.stop()
