"""An in-memory prediction log for unit tests and ``mlseam check``: same behaviour, no database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from mlseam.predictionlog.records import (
    KEY_HEX,
    LoggedPrediction,
    LoggedRequest,
    PredictionBatch,
    found_in,
    shadow_answers,
    wanted_keys,
)
from mlseam.predictionlog.store import partition_day


class InMemoryPredictionLog:
    """Keeps the rows PostgreSQL would in a list, read back the same way."""

    def __init__(self) -> None:
        self.rows: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def write(self, batches: list[PredictionBatch]) -> None:
        rows = [LoggedRequest.of(batch) for batch in batches]
        batches.clear()
        with self._lock:
            self.rows.extend(rows)

    @property
    def entries(self) -> list[LoggedPrediction]:
        """Every logged prediction, in the order written."""
        with self._lock:
            rows = list(self.rows)
        return [prediction for row in rows for prediction in row.predictions()]

    def lookup(self, service: str, prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
        keys = set(wanted_keys(prediction_ids))
        with self._lock:
            rows = [r for r in self.rows if r.service == service and r.key in keys]
        return found_in(rows, prediction_ids)

    def window(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedPrediction]:
        with self._lock:
            rows = [r for r in self.rows if r.service == service and r.shadow_of is None and _within(r, since, until)]
        rows.sort(key=lambda r: (r.logged_at, r.key, r.first_index))
        return [prediction for row in rows for prediction in row.predictions()][:limit]

    def shadow_rows(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedRequest]:
        with self._lock:
            rows = [r for r in self.rows if r.service == service and r.shadow_of and _within(r, since, until)]
        return sorted(rows, key=lambda r: (r.logged_at, r.key))[:limit]

    def shadows_of(self, service: str, prediction_ids: Sequence[str]) -> dict[str, list[LoggedPrediction]]:
        keys = set(wanted_keys(prediction_ids))
        with self._lock:
            rows = [r for r in self.rows if r.service == service and r.shadow_of and r.shadow_of[:KEY_HEX] in keys]
        return shadow_answers(rows, prediction_ids)

    def prune(self, *, older_than: datetime) -> int:
        cutoff = partition_day(older_than)
        with self._lock:
            days = {partition_day(r.logged_at) for r in self.rows if partition_day(r.logged_at) < cutoff}
            self.rows = [r for r in self.rows if partition_day(r.logged_at) >= cutoff]
        return len(days)


def _within(row: LoggedRequest, since: datetime, until: datetime | None) -> bool:
    return row.logged_at >= since and (until is None or row.logged_at < until)
