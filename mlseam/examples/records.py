"""What the examples stores take and give: examples, selections, read results and quarantine events."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from mlseam.errors import InvalidInputError
from mlseam.tasks import Examples, TaskKind

Progress = Callable[[int], None]
"""Called with the number of rows read so far while a read streams."""


@dataclass(frozen=True)
class LabelledExample:
    """One example as a client sends it.

    ``external_id`` makes re-sending it harmless, and sending it with another label corrects it;
    ``prediction_id`` names the logged prediction this example labels, when it labels one.
    """

    input: Any
    label: Any
    external_id: str | None = None
    prediction_id: str | None = None


@dataclass(frozen=True)
class Stored:
    """What an add did: how many examples were new and how many corrected an earlier label."""

    new: int
    corrected: int


@dataclass(frozen=True)
class ReadResult:
    """What a read produced: the valid examples, how many rows were skipped, as of which data.

    ``watermark`` and ``quarantine_revision`` are what to pass to ``read`` to get the same rows again.
    """

    examples: Examples[Any]
    malformed: int
    watermark: int
    seconds: float
    quarantine_revision: int = 0
    quarantined: int = 0  # rows left out because a quarantine covered them


@dataclass(frozen=True)
class ExampleStats:
    """How many current (not superseded) examples a service has and the highest example id."""

    count: int
    watermark: int
    quarantine_revision: int = 0


class Action(StrEnum):
    """What a quarantine event does to the rows it covers."""

    QUARANTINE = "quarantine"  # left out of retrains read at this revision or later
    RELEASE = "release"  # back in


@dataclass(frozen=True)
class Selection:
    """Which examples a listing, quarantine or release names: every criterion given must hold.

    ``since`` is inclusive, ``until`` exclusive (creation time); ``id_from`` and ``id_to`` inclusive.
    """

    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] = ()
    id_from: int | None = None
    id_to: int | None = None
    labels_a_prediction: bool = False
    """Only the examples sent as ``{prediction_id, label}`` (read through their own index)."""

    @property
    def is_everything(self) -> bool:
        return self == Selection()

    def describe(self) -> str:
        """The rule in words, as the quarantine history records it."""
        parts = [f"source={self.source}"] if self.source is not None else []
        if self.since is not None:
            parts.append(f"created>={self.since.isoformat()}")
        if self.until is not None:
            parts.append(f"created<{self.until.isoformat()}")
        if self.ids:
            parts.append("ids=" + ",".join(map(str, self.ids)))
        if self.id_from is not None:
            parts.append(f"id>={self.id_from}")
        if self.id_to is not None:
            parts.append(f"id<={self.id_to}")
        if self.labels_a_prediction:
            parts.append("labels-a-prediction")
        return " ".join(parts) or "every example"

    def matches(self, row_id: int, source: str, created_at: datetime, prediction_id: str | None = None) -> bool:
        """Whether a row with these values is selected (the in-memory store's test)."""
        return (
            (not self.labels_a_prediction or prediction_id is not None)
            and (self.source is None or source == self.source)
            and (self.since is None or created_at >= self.since)
            and (self.until is None or created_at < self.until)
            and (not self.ids or row_id in self.ids)
            and (self.id_from is None or row_id >= self.id_from)
            and (self.id_to is None or row_id <= self.id_to)
        )


@dataclass(frozen=True)
class StoredExample:
    """One stored row with where it came from, as ``mlseam examples list`` shows it."""

    id: int
    external_id: str
    source: str
    request_id: str | None
    prediction_id: str | None
    created_at: datetime
    label: Any
    superseded_by: int | None
    quarantined: bool


@dataclass(frozen=True)
class QuarantineEvent:
    """One quarantine or release: who, when, why, by which rule, and how many rows it changed."""

    revision: int
    service: str
    action: Action
    rule: str
    reason: str
    actor: str
    rows: int
    created_at: datetime


class ExamplesStore(Protocol):
    """Where labelled examples live; the retrain job reads, APIs and seeding add, operators quarantine."""

    def add(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        examples: Sequence[LabelledExample],
        *,
        source: str,
        request_id: str | None = None,
    ) -> Stored:
        """Validate every example, then store the new ones and the corrected labels."""
        ...

    def read(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        *,
        watermark: int | None = None,
        quarantine_revision: int | None = None,
        progress: Progress | None = None,
    ) -> ReadResult:
        """Every valid example of ``service`` as of ``watermark`` and ``quarantine_revision`` (None: now).

        In id order; malformed rows are counted, not raised. The same two numbers give the same rows.
        """
        ...

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        """Current row count and highest id of ``service``'s examples."""
        ...

    def list_examples(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, *, limit: int
    ) -> list[StoredExample]:
        """The selected rows (superseded ones too), in id order, at most ``limit``."""
        ...

    def count_changed(self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action) -> int:
        """How many selected rows ``apply_quarantine`` with ``action`` would change now (a dry run)."""
        ...

    def apply_quarantine(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action, *, actor: str, reason: str
    ) -> QuarantineEvent | None:
        """Quarantine or release the selected rows and record it; None when no row would change."""
        ...

    def quarantine_history(self, service: str) -> list[QuarantineEvent]:
        """Every quarantine event of ``service``, oldest first."""
        ...


def content_id(input_json: Any, label: Any) -> str:
    """A deterministic id for an example sent without ``external_id`` (same content, same id)."""
    canonical = json.dumps([input_json, label], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ValidExample:
    """An example that passed its task kind's checks, as it will be stored."""

    external_id: str
    stored: Any  # the input as JSON
    label: Any
    extra: dict[str, Any]  # columns the task kind stores beside the JSON
    prediction_id: str | None = None


def validate_examples(kind: TaskKind[Any, Any], examples: Sequence[LabelledExample]) -> list[ValidExample]:
    """Every example checked; one per external_id, the last sent winning (it is the latest label)."""
    latest = {v.external_id: v for v in (validate_example(kind, e, i) for i, e in enumerate(examples))}
    return list(latest.values())


def validate_example(kind: TaskKind[Any, Any], example: LabelledExample, index: int) -> ValidExample:
    """``example`` checked as every store checks it; InvalidInputError names index and field."""
    value = kind.validate_input(example.input, index=index)
    label = kind.validate_label(example.label, index=index)
    kind.check_label_fits(value, label, index=index)
    stored = kind.input_to_json(value)
    external_id = _checked_id(example.external_id, "external_id", index)
    prediction_id = _checked_id(example.prediction_id, "prediction_id", index)
    return ValidExample(
        external_id or content_id(stored, label), stored, label, kind.stored_columns(value), prediction_id
    )


def _checked_id(value: Any, field: str, index: int) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or "\x00" in value):
        raise InvalidInputError(f"{field}: must be a non-empty string without NUL characters", index=index, field=field)
    return value
