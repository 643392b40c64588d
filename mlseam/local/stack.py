"""The local stack behind ``make run`` and the tests: database, emulator, schema, demo data, models."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from mlseam.artifacts import create_bucket, create_signing_key
from mlseam.aws import aws_client
from mlseam.errors import ConfigError, MlseamError
from mlseam.events import create_events_topic
from mlseam.examples.migrate import migrate
from mlseam.local.aws import LocalAws
from mlseam.local.postgres import LocalPostgres
from mlseam.local.server import Server
from mlseam.manifest import Service, discover_services, load_service
from mlseam.registry import create_registry_table
from mlseam.settings import Settings
from mlseam.stores import build_stores, create_batch_resources


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
        """Start both servers, create the buckets, tables, queues, signing key and events topic, migrate.

        In AWS, Terraform creates what the emulator gets here.
        """
        self.settings.local_dir.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        try:
            self.aws.start()
            create_bucket(aws_client(self.settings, "s3"), self.settings.artifacts_bucket, self.settings.aws_region)
            assert self.settings.signing_key_id is not None  # noqa: S101 - local settings always set it
            create_signing_key(aws_client(self.settings, "kms"), self.settings.signing_key_id)
            create_registry_table(aws_client(self.settings, "dynamodb"), self.settings.registry_table)
            create_batch_resources(self.settings, discover_services(self.settings.services_dir))
            if self.settings.events_topic_arn is not None:
                create_events_topic(aws_client(self.settings, "sns"), self.settings.events_topic_arn)
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


def serve_local(settings: Settings, console: Console, services: list[str]) -> None:
    """Serve the loadable ``services`` and the dashboard on one port, under the same paths as the load balancer."""
    from mlseam.dashboard.server import build_dashboard
    from mlseam.serving import serve

    base = f"http://{settings.serve_host}:{settings.serve_port}"
    names, curls = [], []
    for name in services:
        try:
            service = load_service(name, settings.services_dir)
        except MlseamError as exc:
            console.print(f"{name}: not served: {exc}", markup=False, highlight=False, soft_wrap=True)
            continue
        names.append(name)
        body = json.dumps({"inputs": [demo_input(service)]}, separators=(",", ":"))
        curls.append(f"curl -s {base}/{name}/v1/predict -H 'content-type: application/json' -d '{body}'")

    def ready() -> None:
        console.print(f"dashboard on {base}/")
        console.print(f"APIs on {base}/<service>/ (docs at {base}/<service>/docs). Try:")
        for curl in curls:
            console.print(curl, markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"batches: POST {base}/<service>/v1/batches with the same body, then GET the status_url it answers "
            f"(one worker per service is running)"
        )
        console.print("local stack is up; `.venv/bin/mlseam status` works from another terminal. Ctrl-C stops it.")

    with start_workers(settings, names):
        serve(settings, names, on_ready=ready, mounts={"/": build_dashboard(settings, api_url=base)})


@contextlib.contextmanager
def start_workers(settings: Settings, names: list[str]) -> Iterator[None]:
    """One batch worker per service, as threads of this process, stopped on the way out."""
    from mlseam.batches.worker import Worker

    # Short long polls: Ctrl-C should not wait out a 20 s receive.
    settings = settings.model_copy(update={"worker_wait_s": min(settings.worker_wait_s, 2)})
    stores = build_stores(settings)
    workers = [Worker.for_stores(load_service(name, settings.services_dir), stores, settings) for name in names]
    threads = [threading.Thread(target=w.run, name=f"worker-{w.service.name}", daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.stop.set()
        for thread in threads:
            thread.join(timeout=settings.worker_wait_s + 5)


def demo_input(service: Service) -> Any:
    """A real input from the service's demo data when it has some, else a neutral one."""
    if service.manifest.seed is not None:
        for value, _label in service.load_seed()():
            return value
    return service.kind.input_to_json(service.kind.sample_input())


def run_local_stack(settings: Settings, *, stay: bool, console: Console, services: list[str] | None = None) -> None:
    """Start the stack, seed and retrain the services (default: every one), show status, then wait for Ctrl-C."""
    from mlseam.local.demo import prepare_services, print_status

    names = services or discover_services(settings.services_dir)
    with _stop_signals_interrupt():
        stack = LocalStack(settings)
        console.print(f"starting PostgreSQL on {stack.postgres.url} and the AWS emulator on {stack.aws.endpoint_url}")
        try:
            stack.start()
            prepare_services(settings, console, names)
            print_status(settings, console)
            if stay:
                serve_local(settings, console, names)
        except KeyboardInterrupt:
            pass
        finally:
            console.print("stopping the local stack")
            stack.stop()
