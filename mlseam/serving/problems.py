"""Errors as HTTP answers: each error class's status and code, in one table, and the JSON body they render to.

The FastAPI exception handlers and the raw-ASGI predict route both answer through
``problem_for`` and ``render_problem``, so a given error leaves the API the same way on every route.
"""

from __future__ import annotations

import contextvars
import json
from dataclasses import dataclass
from typing import Any

import pydantic
from fastapi.exceptions import RequestValidationError

from mlseam.errors import (
    BatchNotFoundError,
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    MlseamError,
    ModelOutputError,
    NoModelError,
    NotFoundError,
    StoreError,
    TooManyItemsError,
)
from mlseam.serving.schemas import ErrorResponse

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the request being answered: echoed in a header, quoted by error bodies and log lines."""


class HttpError(Exception):
    """An answer the HTTP layer gives by itself, with its own status and code."""

    def __init__(self, status: int, code: str, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.index, self.field = status, code, message, index, field


class UnauthorizedError(HttpError):
    """A missing or wrong bearer token (401)."""

    def __init__(self) -> None:
        super().__init__(401, "unauthorized", "send `Authorization: Bearer <token>` with the service's API token")


class BodyTooLargeError(HttpError):
    """A request body past the limit (413); ``close`` when the rest of it was left unread."""

    def __init__(self, limit: int, *, close: bool = False) -> None:
        super().__init__(413, "too_large", f"request body exceeds {limit} bytes; send fewer items")
        self.close = close


_STATUSES: dict[type[MlseamError], tuple[int, str]] = {
    TooManyItemsError: (413, "too_many_items"),
    InvalidInputError: (422, "invalid_input"),
    BatchNotFoundError: (404, "unknown_batch"),
    NotFoundError: (404, "not_found"),
    IdempotencyKeyReusedError: (409, "idempotency_key_reused"),
    ConflictError: (409, "conflict"),
    NoModelError: (503, "no_model"),
    StoreError: (503, "store_unavailable"),
    ModelOutputError: (500, "model_error"),
}
"""Status and code of each error class a request can meet; the nearest class in an error's MRO wins."""


@dataclass(frozen=True)
class Problem:
    """One error answer: its status, code, message and, for an invalid item, where it is."""

    status: int
    code: str
    message: str
    index: int | None = None
    field: str | None = None
    close: bool = False
    """Close the connection after answering: the request's body was left unread."""


def problem_for(exc: Exception) -> Problem:
    """The answer to ``exc``; anything unforeseen is a 500 quoting the request id, never its trace."""
    if isinstance(exc, HttpError):
        close = isinstance(exc, BodyTooLargeError) and exc.close
        return Problem(exc.status, exc.code, exc.message, exc.index, exc.field, close)
    if isinstance(exc, RequestValidationError | pydantic.ValidationError):
        exc = invalid_input_from(exc, "")
    status, code = _status_of(exc)
    if isinstance(exc, InvalidInputError):
        return Problem(status, code, str(exc), exc.index, exc.field)
    if status == 503:
        message = f"a store is unavailable, retry later: {exc}" if isinstance(exc, StoreError) else str(exc)
        return Problem(status, code, message)
    if status >= 500:
        # The model's or the server's own words stay in the log: they may hold what a client must not see.
        what = "the model failed on this request's batch" if code == "model_error" else "internal error"
        return Problem(status, code, f"{what}; quote request id {REQUEST_ID.get()} when reporting it")
    return Problem(status, code, str(exc))


def _status_of(exc: Exception) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in _STATUSES:
            return _STATUSES[cls]
    return 500, "internal"


def problem_headers(problem: Problem, body: bytes) -> list[tuple[bytes, bytes]]:
    """The raw ASGI headers of an error answer with ``body``."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return [*headers, (b"connection", b"close")] if problem.close else headers


def render_problem(problem: Problem) -> bytes:
    """The JSON body of every error: ``{"error": {code, message, index?, field?}, "request_id"}``."""
    detail: dict[str, Any] = {"code": problem.code, "message": problem.message}
    if problem.index is not None:
        detail["index"] = problem.index
    if problem.field is not None:
        detail["field"] = problem.field
    return json.dumps({"error": detail, "request_id": REQUEST_ID.get()}).encode()


def invalid_input_from(exc: pydantic.ValidationError | RequestValidationError, list_field: str) -> InvalidInputError:
    """The first validation problem as the error naming its field (``inputs[3].bmi``) and item index.

    ``list_field`` is the body's list of items (``inputs``, ``examples``): too long a list is
    TooManyItemsError (413), a problem inside one of its items carries that item's index.
    """
    error = exc.errors()[0]
    # "by input" / "by prediction_id": the form of an example item, not a field (see serving.schemas)
    loc = [part for part in error["loc"] if part != "body" and not (isinstance(part, str) and part.startswith("by "))]
    path = _path(loc) if loc else "body"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "json_invalid":
        detail = error.get("ctx", {}).get("error", "parse error")
        return InvalidInputError(f"body: is not valid JSON ({detail})", field="body")
    if error["type"] == "too_long" and loc == [list_field]:
        return TooManyItemsError(f"{path}: {message}; split the request")
    index = loc[1] if len(loc) > 1 and loc[0] == list_field and isinstance(loc[1], int) else None
    return InvalidInputError(f"{path}: {message}", index=index, field=path)


def in_list(exc: InvalidInputError, list_field: str, *, item: str = "") -> InvalidInputError:
    """``exc``, raised about one item, renamed to where that item sits in the request body.

    Task kinds name fields from the item (``input.bmi``, ``label``); in a predict body the item
    is the input itself (``item="input"``): ``inputs[3].bmi``; in an examples body ``examples[3].input.bmi``.
    """
    relative = exc.field or item
    message = str(exc).removeprefix(f"{relative}: ") if relative else str(exc)
    field = f"{list_field}[{exc.index}]" + _suffix(relative.removeprefix(item) if item else relative)
    return InvalidInputError(f"{field}: {message}", index=exc.index, field=field)


def _suffix(relative: str) -> str:
    return relative if not relative or relative.startswith(("[", ".")) else f".{relative}"


def _path(loc: list[int | str]) -> str:
    path = str(loc[0])
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


_DESCRIPTIONS = {
    401: "missing or wrong bearer token",
    404: "no such resource (or it has expired)",
    409: "the request clashes with what is stored",
    413: "too many items or too large a body",
    422: "an input is invalid: the message names the item index and the field",
    500: "the model failed on this request's batch",
    503: "no model loaded yet, or a store is unreachable",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of the error statuses an operation can answer."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}
