"""Pydantic validation errors of ``service.yaml`` in words that say what to write."""

from __future__ import annotations

import typing
from typing import Any

import pydantic

_NUMBER_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def describe_error(error: Any, model: type[pydantic.BaseModel], prefix: tuple[str, ...] = ()) -> str:
    """One pydantic error as ``field <dotted.name>: <what is wrong>``, in words that say what to write."""
    location = tuple(str(part) for part in error["loc"])
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in (*prefix, *error["loc"]))
    field = field.removeprefix(".") or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(_fields_at(model, location[:-1]))
        return f"field {field}: unknown field; the fields here are {allowed}"
    if kind == "missing":
        return f"field {field}: required, but missing"
    message = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    if kind in _NUMBER_ERRORS or kind.endswith(("_type", "_parsing")):
        message += f" (got {error['input']!r})"
    return f"field {field}: {message}"


def _fields_at(model: type[pydantic.BaseModel], location: tuple[str, ...]) -> list[str]:
    """The field names of the (nested) model found by following ``location`` down from ``model``.

    A list index steps into the list's item type (``features.0`` is one ``Feature``).
    """
    annotation: Any = model
    for part in location:
        if part.isdigit() and typing.get_origin(annotation) is list:
            (annotation,) = typing.get_args(annotation)
        elif isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            annotation = annotation.model_fields[part].annotation if part in annotation.model_fields else None
        else:
            return []
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return list(annotation.model_fields)
    return []
