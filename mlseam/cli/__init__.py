"""The ``mlseam`` command: retrain, status, promote, rollback, seed, examples, migrate and the local stack."""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    from mlseam.cli.console import user_errors

__all__ = ["app", "main", "run_app", "user_errors"]


def main() -> None:
    """Entry point of the ``mlseam`` console script."""
    if sys.argv[1:2] == ["serve"]:
        # An API starts ~15% sooner without cyclic collections during its imports (the command
        # line's own too: none is imported before this) and model load (all long-lived objects);
        # it turns the collector back on once it has frozen them.
        gc.disable()
    sys.exit(run_app())


def run_app(args: list[str] | None = None) -> int:
    """Run the command line; a usage mistake is one ``error:`` line and exit 2, like every other error."""
    import typer

    # Typer vendors its own click; its exceptions are only importable from there (a pinned version).
    from typer._click import exceptions

    from mlseam.cli.console import err, out

    try:
        result = _typer_app()(args=args, prog_name="mlseam", standalone_mode=False)
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


def _typer_app() -> typer.Typer:
    app: typer.Typer = globals()["app"] if "app" in globals() else __getattr__("app")
    return app


def __getattr__(name: str) -> Any:
    """``app`` and ``user_errors``, imported on first use (so after ``main`` has set the collector)."""
    value: Any
    if name == "app":
        from mlseam.cli.commands import app as value
    elif name == "user_errors":
        from mlseam.cli.console import user_errors as value
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
