"""An in-memory examples store with the PostgreSQL store's rules, for unit tests and ``mlseam check``."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from mlseam.errors import InvalidInputError
from mlseam.examples.records import (
    Action,
    ExampleStats,
    LabelledExample,
    Progress,
    QuarantineEvent,
    ReadResult,
    Selection,
    Stored,
    StoredExample,
    validate_examples,
)
from mlseam.tasks import Examples, TaskKind


@dataclass
class MemoryRow:
    """One stored row of the in-memory store."""

    id: int
    external_id: str
    input: Any  # as JSON
    label: Any
    source: str
    request_id: str | None = None
    prediction_id: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    superseded_by: int | None = None

    def seen_at(self, watermark: int) -> bool:
        return self.id <= watermark and (self.superseded_by is None or self.superseded_by > watermark)


class InMemoryExamplesStore:
    """Examples fake: validated adds with corrections; reads skip and count malformed rows; quarantine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        self.rows: dict[str, list[MemoryRow]] = {}
        # service -> events, each with the ids it changed
        self.events: dict[str, list[tuple[QuarantineEvent, frozenset[int]]]] = {}
        self._next_revision = 1

    def add_raw(self, service: str, input_json: Any, label: Any) -> int:
        """Store a row without validation, as a bad writer could; returns its id."""
        with self._lock:
            row_id = self._take_id()
            self.rows.setdefault(service, []).append(MemoryRow(row_id, f"raw:{row_id}", input_json, label, "raw"))
            return row_id

    def add(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        examples: Sequence[LabelledExample],
        *,
        source: str,
        request_id: str | None = None,
    ) -> Stored:
        validated = validate_examples(kind, examples)
        new = corrected = 0
        with self._lock:
            rows = self.rows.setdefault(service, [])
            current = {row.external_id: row for row in rows if row.superseded_by is None}
            for valid in validated:
                old = current.get(valid.external_id)
                if old is not None and old.label == valid.label:
                    continue
                row = MemoryRow(self._take_id(), valid.external_id, valid.stored, valid.label, source, request_id)
                row.prediction_id = valid.prediction_id
                rows.append(row)
                current[valid.external_id] = row
                if old is None:
                    new += 1
                else:
                    old.superseded_by = row.id
                    corrected += 1
        return Stored(new=new, corrected=corrected)

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        with self._lock:
            rows = list(self.rows.get(service, []))
            revision = self._revision(service)
        current = sum(1 for r in rows if r.superseded_by is None)
        return ExampleStats(current, max((r.id for r in rows), default=0), quarantine_revision=revision)

    def read(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        *,
        watermark: int | None = None,
        quarantine_revision: int | None = None,
        progress: Progress | None = None,
    ) -> ReadResult:
        started = time.perf_counter()
        with self._lock:
            rows = list(self.rows.get(service, []))
            revision = self._revision(service) if quarantine_revision is None else quarantine_revision
            held = self._held(service, revision)
        if watermark is None:
            watermark = max((r.id for r in rows), default=0)
        seen = [row for row in rows if row.seen_at(watermark)]
        ids, inputs, labels, malformed = [], [], [], 0
        for row in seen:
            if row.id in held:
                continue
            try:
                value, label = kind.validate_input(row.input), kind.validate_label(row.label)
                kind.check_label_fits(value, label)
            except InvalidInputError:
                malformed += 1
                continue
            ids.append(row.id)
            inputs.append(value)
            labels.append(label)
        if progress is not None:
            progress(len(seen))
        examples = Examples(
            ids=np.asarray(ids, dtype=np.int64), inputs=kind.to_batch(inputs), labels=kind.label_array(labels)
        )
        quarantined = sum(1 for row in seen if row.id in held)
        return ReadResult(examples, malformed, watermark, time.perf_counter() - started, revision, quarantined)

    def list_examples(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, *, limit: int
    ) -> list[StoredExample]:
        with self._lock:
            held = self._held(service, self._revision(service))
            picked = self._selected(service, selection)[:limit]
        return [
            StoredExample(
                r.id,
                r.external_id,
                r.source,
                r.request_id,
                r.prediction_id,
                r.created_at,
                r.label,
                r.superseded_by,
                r.id in held,
            )
            for r in picked
        ]

    def count_changed(self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action) -> int:
        with self._lock:
            return len(self._changed(service, selection, action))

    def apply_quarantine(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action, *, actor: str, reason: str
    ) -> QuarantineEvent | None:
        with self._lock:
            changed = self._changed(service, selection, action)
            if not changed:
                return None
            event = QuarantineEvent(
                self._next_revision,
                service,
                action,
                selection.describe(),
                reason,
                actor,
                len(changed),
                datetime.now(UTC),
            )
            self._next_revision += 1
            self.events.setdefault(service, []).append((event, frozenset(changed)))
            return event

    def quarantine_history(self, service: str) -> list[QuarantineEvent]:
        with self._lock:
            return [event for event, _ in self.events.get(service, [])]

    def _take_id(self) -> int:
        row_id = self._next_id
        self._next_id += 1
        return row_id

    def _revision(self, service: str) -> int:
        return max((event.revision for event, _ in self.events.get(service, [])), default=0)

    def _held(self, service: str, revision: int) -> set[int]:
        """Ids whose latest event up to ``revision`` quarantined them."""
        held: set[int] = set()
        for event, ids in self.events.get(service, []):
            if event.revision > revision:
                break
            held = held | ids if event.action is Action.QUARANTINE else held - ids
        return held

    def _selected(self, service: str, selection: Selection) -> list[MemoryRow]:
        rows = self.rows.get(service, [])
        return [r for r in rows if selection.matches(r.id, r.source, r.created_at, r.prediction_id)]

    def _changed(self, service: str, selection: Selection, action: Action) -> list[int]:
        held = self._held(service, self._revision(service))
        wanted = action is Action.RELEASE
        return [r.id for r in self._selected(service, selection) if (r.id in held) is wanted]
