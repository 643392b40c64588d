"""Prediction ids, and the recorder that logs predictions off the request path.

``record`` only appends a ``PredictionBatch`` (nothing rendered) to a bounded buffer; one
background thread hands what waits to the log in one bulk write (which renders the JSON) every
``flush_s`` or sooner once ``flush_rows`` wait. When the buffer is full, or the log is slow or
down, entries are dropped and counted (``mlseam_predictions_dropped_total``), never raised into
a request and never kept without bound.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from mlseam.predictionlog import PredictionBatch, PredictionLog
from mlseam.runtime.metrics import PREDICTIONS_DROPPED, PREDICTIONS_LOGGED
from mlseam.settings import Settings

log = logging.getLogger("mlseam.predictionlog")

_PRUNE_EVERY_S = 3600.0
_DROP_REPORT_EVERY_S = 10.0
_MAX_BACKOFF_S = 30.0


class PredictionRecorder:
    """Buffers predictions and writes them to a ``PredictionLog`` on its own thread."""

    def __init__(
        self,
        store: PredictionLog,
        *,
        share: float = 1.0,
        capacity: int = 10_000,
        flush_s: float = 0.2,
        flush_rows: int = 2000,
        retention: timedelta | None = None,
    ) -> None:
        self.store = store
        self.share = share
        self.capacity = capacity
        self.flush_s = flush_s
        self.flush_rows = min(flush_rows, capacity)
        self.retention = retention
        self._pending: list[PredictionBatch] = []
        self._waiting = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped: dict[str, int] = {}
        self._last_drop_report = -math.inf  # monotonic time starts near 0 on a fresh boot
        self._last_prune = -math.inf  # monotonic time starts near 0 on a fresh boot

    def sampled(self) -> bool:
        """Whether a request's outputs are logged (decided per request, at the configured share)."""
        return self.share >= 1.0 or random.random() < self.share  # noqa: S311 - sampling, not security

    def record(self, pending: PredictionBatch) -> None:
        """Queue ``pending`` for the log; drops it (counted) when the buffer is full. Never blocks long."""
        count = pending.count
        with self._lock:
            full = self._waiting + count > self.capacity
            if not full:
                self._pending.append(pending)
                self._waiting += count
                wake = self._waiting >= self.flush_rows
        if full:
            self._count_dropped(pending.service, "buffer_full", count)
        elif wake:
            self._wake.set()

    @property
    def waiting(self) -> int:
        """How many entries wait in the buffer."""
        return self._waiting

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Write what waits (within ``timeout_s``) and stop; a log that hangs is left behind."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.flush_s + backoff)
            self._wake.clear()
            backoff = 0.0 if self.flush() else min(max(2 * backoff, 0.5), _MAX_BACKOFF_S)
        self.flush()

    def flush(self) -> bool:
        """Write what waits now in one bulk call; False when the log failed (those entries are dropped)."""
        with self._lock:
            batch, self._pending, self._waiting = self._pending, [], 0
        if batch:
            counts = _per_service(batch)  # the write empties the batch as it goes
            try:
                self.store.write(batch)
            except Exception as exc:  # noqa: BLE001 - a failing log must never stop the writer
                for service, count in counts.items():
                    self._count_dropped(service, "store_failed", count, exc)
                return False
            # One increment per service and write, not per request: each takes the metric's lock.
            for service, count in counts.items():
                PREDICTIONS_LOGGED.labels(service).inc(count)
        self._prune_if_due()
        return True

    def _prune_if_due(self) -> None:
        now = time.monotonic()
        if self.retention is None or now - self._last_prune < _PRUNE_EVERY_S:
            return
        self._last_prune = now
        try:
            dropped = self.store.prune(older_than=datetime.now(UTC) - self.retention)
        except Exception:
            log.warning("could not prune the prediction log", exc_info=True)
            return
        if dropped:
            log.info("pruned the prediction log", extra={"partitions_dropped": dropped})

    def _count_dropped(self, service: str, reason: str, count: int, exc: Exception | None = None) -> None:
        PREDICTIONS_DROPPED.labels(service, reason).inc(count)
        # One line per burst: a store outage under load would otherwise log every request.
        with self._lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
            now = time.monotonic()
            if now - self._last_drop_report < _DROP_REPORT_EVERY_S:
                return
            self._last_drop_report, dropped, self._dropped = now, self._dropped, {}
        cause = f": {type(exc).__name__}: {exc}" if exc is not None else ""
        log.warning("prediction log entries dropped %s%s", dropped, cause)


def _per_service(batch: list[PredictionBatch]) -> dict[str, int]:
    """How many predictions of each service ``batch`` holds."""
    counts: dict[str, int] = {}
    for pending in batch:
        counts[pending.service] = counts.get(pending.service, 0) + pending.count
    return counts


def build_recorder(settings: Settings, store: PredictionLog | None) -> PredictionRecorder | None:
    """The recorder ``settings`` ask for on ``store``; None when the log is off or there is no store."""
    if store is None or not settings.prediction_log:
        return None
    return PredictionRecorder(
        store,
        share=settings.prediction_log_share if settings.prediction_log_share is not None else 1.0,
        capacity=settings.prediction_log_buffer,
        flush_s=settings.prediction_log_flush_ms / 1000.0,
        retention=timedelta(days=settings.prediction_log_retention_days),
    )
