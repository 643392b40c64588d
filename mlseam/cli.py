"""The ``mlseam`` command: retrain, status, promote, rollback, seed, migrate and the local stack."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import pydantic
import typer

from mlseam.errors import ConfigError, MlseamError
from mlseam.manifest import Service, discover_services, load_service
from mlseam.settings import Settings, get_settings
from mlseam.stores import Stores, build_stores, database_url

if TYPE_CHECKING:
    from rich.console import Console

# Commands import their jobs inside: `mlseam serve` then stays free of Alembic, SQLAlchemy and
# the training code, which saves memory and start-up time in every API container.
app = typer.Typer(
    help="mlseam: retrain, promote and inspect the platform's ML services.",
    epilog=(
        "Exit codes: 0 done; 1 a store or promotion error (unreachable, not found, conflict); "
        "2 bad usage or configuration (service.yaml, model class, settings); "
        "retrain only: 3 refused by a quality gate, 4 failed, "
        "5 champion kept but it could not be evaluated."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@cache
def out() -> Console:
    """Where results go (stdout); rich is imported on first use, so `mlseam serve` never loads it."""
    from rich.console import Console

    return Console()


@cache
def err() -> Console:
    """Where errors go (stderr)."""
    from rich.console import Console

    return Console(stderr=True)


F = TypeVar("F", bound=Callable[..., Any])
# The service image sets MLSEAM_SERVICE, so its commands are just `serve`, `worker` and `retrain`.
ServiceArg = Annotated[str, typer.Argument(help="service name: a folder of services/", envvar="MLSEAM_SERVICE")]
ServicesArg = Annotated[
    list[str] | None,
    typer.Argument(help="service names (default: MLSEAM_SERVICE, else every service)", envvar="MLSEAM_SERVICE"),
]

ByOption = Annotated[str | None, typer.Option(help="who, kept in the history (default: user@host)")]


def user_errors(command: F) -> F:
    """Turn mlseam errors into one line on stderr and an exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ConfigError as exc:
            err().print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except MlseamError as exc:
            err().print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = f"setting MLSEAM_{str(first['loc'][0]).upper()}: " if first["loc"] else "settings: "
            err().print(f"error: {where}{first['msg'].removeprefix('Value error, ')}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except Exception as exc:
            refused = aws_refusal(exc)
            if refused is None:
                raise
            err().print(f"error: {refused}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def aws_refusal(exc: BaseException) -> str | None:
    """One line for an AWS API error the stores did not translate (denied, throttled, ...), else None."""
    exceptions = sys.modules.get("botocore.exceptions")  # loaded whenever an AWS call could have raised
    if exceptions is None or not isinstance(exc, exceptions.ClientError):
        return None
    error = exc.response.get("Error", {})
    return (
        f"AWS refused {exc.operation_name}: {error.get('Code', 'unknown error')}: {error.get('Message', '')}; "
        "check the AWS credentials, their permissions and the region (MLSEAM_AWS_REGION)"
    )


def configure_logging(settings: Settings) -> None:
    """Log lines on stderr (progress of long jobs), stdout stays for results."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _context(service: str | None = None) -> tuple[Settings, Stores, Service | None]:
    settings = get_settings()
    configure_logging(settings)
    loaded = load_service(service, settings.services_dir) if service is not None else None
    return settings, build_stores(settings), loaded


@app.command("migrate")
@user_errors
def migrate_command() -> None:
    """Bring the examples database schema up to date."""
    from mlseam.examples.migrate import migrate  # Alembic is heavy: only here

    migrate(database_url(get_settings()))
    out().print("examples schema is up to date")


@app.command("seed")
@user_errors
def seed_command(service: ServiceArg) -> None:
    """Load the service's bundled demo data as labelled examples (re-running adds nothing)."""
    from mlseam.training import seed_service

    _, stores, loaded = _context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    total, added = seed_service(loaded, stores)
    out().print(f"{loaded.name}: {total} demo examples, {added} new")


@app.command("retrain")
@user_errors
def retrain_command(service: ServiceArg) -> None:
    """Fit a candidate, compare it with the champion on the same holdout, promote if better.

    Exit code: 0 promoted or champion kept, 3 refused by a quality gate, 4 failed, 5 champion kept
    but it could not be evaluated on the holdout (its artifact or code is broken: look, or roll back).
    """
    from mlseam.training import Retrainer

    settings, stores, loaded = _context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    outcome = Retrainer.for_settings(loaded, stores, settings).run()
    out().print(outcome.summary, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(outcome.exit_code)


@app.command("promote")
@user_errors
def promote_command(
    service: ServiceArg,
    version: Annotated[str, typer.Argument(help="version to make champion, e.g. v3")],
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "manual promotion",
    by: ByOption = None,
) -> None:
    """Make a stored version the champion (its artifact digest is checked first)."""
    from mlseam.training.promotion import current_actor, promote

    settings, stores, _ = _context()
    load_service(service, settings.services_dir)
    champion = promote(stores.registry, stores.artifacts, service, version, reason=reason, actor=by or current_actor())
    out().print(f"{service}: champion is now {champion.version} (revision {champion.revision})")


@app.command("rollback")
@user_errors
def rollback_command(
    service: ServiceArg,
    reason: Annotated[str, typer.Option(help="why, kept in the history")] = "manual rollback",
    by: ByOption = None,
) -> None:
    """Return the champion to the previous one; the version left is not rolled back to again unless re-promoted."""
    from mlseam.training.promotion import current_actor, rollback

    settings, stores, _ = _context()
    load_service(service, settings.services_dir)
    champion = rollback(stores.registry, stores.artifacts, service, reason=reason, actor=by or current_actor())
    out().print(f"{service}: rolled back, champion is now {champion.version} (revision {champion.revision})")


@app.command("status")
@user_errors
def status_command(
    service: Annotated[str | None, typer.Argument(help="show this service's version history")] = None,
) -> None:
    """Every service with its champion; with a service name, its version and champion history."""
    from mlseam.status import champion_moves_table, history_table, overview_table

    settings, stores, _ = _context()
    if service is None:
        out().print(overview_table(settings, stores))
        return
    loaded = load_service(service, settings.services_dir)
    out().print(history_table(loaded, stores, width=out().width))
    out().print(champion_moves_table(loaded, stores))


@app.command("serve")
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


@app.command("worker")
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


@app.command("new")
@user_errors
def new_command(
    name: Annotated[str, typer.Argument(help="service name: a-z, 0-9 and '-', e.g. receipt-totals")],
    task: Annotated[str, typer.Option(help="task kind, e.g. image_classification, tabular_regression or ocr")],
) -> None:
    """Create services/NAME/: service.yaml, a baseline model.py, demo seed.py and a README to fill in."""
    from mlseam.scaffold import create_service

    folder = create_service(name, task, get_settings().services_dir)
    out().print(
        f"created {folder}: fill in its TODOs; `make check SERVICE={name}` checks the contract, "
        f"`make run SERVICES={name}` seeds, retrains and serves it"
    )


@app.command("check")
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


@app.command("local-stack")
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


def main() -> None:
    """Entry point of the ``mlseam`` console script."""
    if sys.argv[1:2] == ["serve"]:
        # An API starts ~15% sooner without cyclic collections during its imports and model
        # load (all long-lived objects); it turns the collector back on once it has frozen them.
        gc.disable()
    sys.exit(run_app())


def run_app(args: list[str] | None = None) -> int:
    """Run the command line; a usage mistake is one ``error:`` line and exit 2, like every other error."""
    # Typer vendors its own click; its exceptions are only importable from there (a pinned version).
    from typer._click import exceptions

    try:
        result = app(args=args, prog_name="mlseam", standalone_mode=False)
    except exceptions.NoArgsIsHelpError as exc:
        assert exc.ctx is not None  # noqa: S101 - click sets it
        out().print(exc.ctx.get_help(), markup=False, highlight=False)
        return 2
    except exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "mlseam"
        message = f"error: {exc.format_message()} (see `{where} --help`)"
        err().print(message, markup=False, highlight=False, soft_wrap=True)
        return 2
    except typer.Abort:
        return 130  # Ctrl-C while a command was running
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    main()
