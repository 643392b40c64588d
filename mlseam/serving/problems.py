"""The API's error type and how validation problems become 422s naming item and field."""

from __future__ import annotations

import pydantic
from fastapi.exceptions import RequestValidationError


class ApiError(Exception):
    """An error answered as JSON with ``status``; raised by handlers, rendered in one place."""

    def __init__(self, status: int, code: str, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.index, self.field = status, code, message, index, field


def from_validation(exc: pydantic.ValidationError | RequestValidationError, list_field: str) -> ApiError:
    """422 naming the item index and the field of the first problem."""
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if part != "body"]
    index = loc[1] if len(loc) > 1 and loc[0] == list_field and isinstance(loc[1], int) else None
    field = loc[0] if loc else "body"
    path = str(field)
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "json_invalid":
        path, message = "body", f"is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    elif error["type"] == "too_long" and loc == [list_field]:
        return ApiError(413, "too_many_items", f"{path}: {message}; split the request")
    return ApiError(422, "invalid_input", f"{path}: {message}", index=index, field=path)
