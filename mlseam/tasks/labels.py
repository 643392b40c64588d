"""Class names a manifest declares: their type in service.yaml and the label check they imply."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, Strict, StringConstraints

from mlseam.tasks.base import plain_text

ClassName = plain_text()
"""One declared label: non-blank text without NUL characters."""


def check_unique(labels: list[str] | None) -> list[str] | None:
    """``labels`` unchanged, or ValueError when one is declared twice."""
    if labels is not None and len(set(labels)) != len(labels):
        raise ValueError("labels must be unique")
    return labels


def describe_labels(labels: Sequence[str]) -> str:
    """The declared labels as a message shows them: the first 20, quoted."""
    return ", ".join(repr(known) for known in labels[:20]) + (", ..." if len(labels) > 20 else "")


def not_declared(label: str, labels: Sequence[str]) -> str:
    """Why ``label`` is refused: it is not one of ``labels``, which the message names."""
    return f"{label[:50]!r} is not one of the labels in service.yaml ({describe_labels(labels)})"


def declared_label(labels: Sequence[str]) -> Any:
    """A JSON string that must be one of ``labels``; the OpenAPI schema lists them as an enum."""
    known = tuple(labels)
    # A check rather than a Literal, so that the message names the labels.
    return Annotated[
        str,
        Strict(),
        StringConstraints(strip_whitespace=True),
        AfterValidator(functools.partial(_check_declared, known=known)),
        pydantic.Field(json_schema_extra={"enum": list(known)}),
    ]


def _check_declared(label: str, *, known: tuple[str, ...]) -> str:
    if label not in known:
        raise ValueError(not_declared(label, known))
    return label
