"""An in-memory examples store with the PostgreSQL store's rules, for unit tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlseam.errors import InvalidInputError
from mlseam.examples.store import ExampleStats, LabelledExample, Progress, ReadResult, validate_example
from mlseam.tasks import Examples, TaskKind


class InMemoryExamplesStore:
    """Examples fake: validated, idempotent adds; reads skip and count malformed rows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_id = 1
        # service -> list of (id, external_id, stored input JSON, label)
        self.rows: dict[str, list[tuple[int, str, Any, Any]]] = {}

    def add_raw(self, service: str, input_json: Any, label: Any) -> int:
        """Store a row without validation, as a bad writer could; returns its id."""
        with self._lock:
            row_id = self._next_id
            self._next_id += 1
            self.rows.setdefault(service, []).append((row_id, f"raw:{row_id}", input_json, label))
            return row_id

    def add(self, service: str, kind: TaskKind[Any, Any], examples: Sequence[LabelledExample], *, source: str) -> int:
        validated = [validate_example(kind, example, index) for index, example in enumerate(examples)]
        added = 0
        with self._lock:
            rows = self.rows.setdefault(service, [])
            known = {row[1] for row in rows}
            for valid in validated:
                external_id, stored, label = valid.external_id, valid.stored, valid.label
                if external_id not in known:
                    known.add(external_id)
                    rows.append((self._next_id, external_id, stored, label))
                    self._next_id += 1
                    added += 1
        return added

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        with self._lock:
            rows = list(self.rows.get(service, []))
        return ExampleStats(count=len(rows), watermark=max((r[0] for r in rows), default=0))

    def read(self, service: str, kind: TaskKind[Any, Any], *, progress: Progress | None = None) -> ReadResult:
        started = time.perf_counter()
        with self._lock:
            rows = list(self.rows.get(service, []))
        ids, inputs, labels, malformed = [], [], [], 0
        for row_id, _, raw_input, raw_label in rows:
            try:
                value, label = kind.validate_input(raw_input), kind.validate_label(raw_label)
                kind.check_label_fits(value, label)
            except InvalidInputError:
                malformed += 1
                continue
            ids.append(row_id)
            inputs.append(value)
            labels.append(label)
        if progress is not None:
            progress(len(rows))
        examples = Examples(
            ids=np.asarray(ids, dtype=np.int64), inputs=kind.to_batch(inputs), labels=kind.label_array(labels)
        )
        watermark = max((r[0] for r in rows), default=0)
        return ReadResult(examples, malformed, watermark, time.perf_counter() - started)
