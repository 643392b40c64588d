"""An in-memory prediction log for unit tests and ``mlseam check``: same behaviour, no database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from mlseam.predictionlog.store import LoggedPrediction, partition_day


class InMemoryPredictionLog:
    """Keeps logged predictions in a list; entries are stored as JSON would round-trip them."""

    def __init__(self) -> None:
        self.entries: list[LoggedPrediction] = []
        self._lock = threading.Lock()

    def write(self, entries: Sequence[LoggedPrediction]) -> None:
        stored = [replace(e, input=_round_trip(e.input), output=_without_id(_round_trip(e.output))) for e in entries]
        with self._lock:
            self.entries.extend(stored)

    def lookup(self, service: str, prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
        wanted = set(prediction_ids)
        with self._lock:
            return {e.prediction_id: e for e in self.entries if e.service == service and e.prediction_id in wanted}

    def window(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedPrediction]:
        with self._lock:
            found = [
                e
                for e in self.entries
                if e.service == service and e.logged_at >= since and (until is None or e.logged_at < until)
            ]
        return sorted(found, key=lambda e: e.logged_at)[:limit]

    def prune(self, *, older_than: datetime) -> int:
        cutoff = partition_day(older_than)
        with self._lock:
            days = {partition_day(e.logged_at) for e in self.entries if partition_day(e.logged_at) < cutoff}
            self.entries = [e for e in self.entries if partition_day(e.logged_at) >= cutoff]
        return len(days)


def _round_trip(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def _without_id(output: Any) -> Any:
    if isinstance(output, dict):
        output.pop("prediction_id", None)
    return output
