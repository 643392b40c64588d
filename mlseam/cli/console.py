"""Where a command's output goes: results on stdout, progress logs and one ``error:`` line on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
import typer

from mlseam.errors import ConfigError, MlseamError
from mlseam.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])


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
