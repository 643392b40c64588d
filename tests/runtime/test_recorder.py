"""The recorder logs predictions off the request path: bounded, dropping (and counting) rather than blocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from mlseam.errors import StoreError
from mlseam.manifest import load_service
from mlseam.predictionlog import InMemoryPredictionLog, LoggedPrediction
from mlseam.runtime import PendingPredictions, PredictionRecorder, new_prediction_ids
from mlseam.runtime.metrics import PREDICTIONS_DROPPED

SERVICES = Path(__file__).resolve().parents[2] / "services"
DIABETES = load_service("diabetes", SERVICES)
FEATURES = dict.fromkeys(DIABETES.kind.features, 0.01)  # type: ignore[attr-defined]


def _pending(count: int, service: str = "diabetes") -> PendingPredictions:
    ids = new_prediction_ids(count)
    inputs = [DIABETES.kind.validate_input(FEATURES) for _ in range(count)]
    outputs = [{"value": 1.5, "prediction_id": pid} for pid in ids]
    return PendingPredictions(service, DIABETES.kind, "v1", "req", datetime.now(UTC), ids, inputs, outputs)


def _dropped(service: str, reason: str) -> float:
    return PREDICTIONS_DROPPED.labels(service, reason)._value.get()


class BlockedLog(InMemoryPredictionLog):
    """A log whose writes hang until released, as a stopped database server would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, entries: Sequence[LoggedPrediction]) -> None:
        self.release.wait(10)
        super().write(entries)


class BrokenLog(InMemoryPredictionLog):
    def write(self, entries: Sequence[LoggedPrediction]) -> None:
        raise StoreError("cannot reach PostgreSQL at 127.0.0.1:1")


def test_prediction_ids_are_distinct_32_character_hex() -> None:
    ids = new_prediction_ids(1000)
    assert len(set(ids)) == 1000
    assert all(len(pid) == 32 and int(pid, 16) >= 0 for pid in ids)


def test_recorded_predictions_reach_the_log_with_their_inputs_json_and_without_their_ids() -> None:
    log = InMemoryPredictionLog()
    recorder = PredictionRecorder(log, flush_s=0.01)
    recorder.start()
    pending = _pending(3)
    recorder.record(pending)
    recorder.stop()
    assert [e.prediction_id for e in log.entries] == list(pending.prediction_ids)
    assert log.entries[0].input == DIABETES.kind.input_to_json(pending.inputs[0])
    assert log.entries[0].output == {"value": 1.5}
    assert (log.entries[0].version, log.entries[0].request_id) == ("v1", "req")


def test_a_full_buffer_drops_new_entries_and_counts_them_instead_of_growing() -> None:
    recorder = PredictionRecorder(InMemoryPredictionLog(), capacity=10)  # not started: nothing drains it
    before = _dropped("diabetes", "buffer_full")
    for _ in range(5):
        recorder.record(_pending(4))
    assert recorder.waiting == 8
    assert _dropped("diabetes", "buffer_full") - before == 12


def test_a_hung_log_never_blocks_record_and_what_cannot_wait_is_dropped() -> None:
    log = BlockedLog()
    recorder = PredictionRecorder(log, capacity=100, flush_s=0.01)
    recorder.start()
    before = _dropped("diabetes", "buffer_full")
    recorder.record(_pending(10))
    time.sleep(0.1)  # the writer has taken them and hangs in write
    started = time.perf_counter()
    for _ in range(50):
        recorder.record(_pending(10))
    assert time.perf_counter() - started < 0.5
    assert recorder.waiting <= 100
    assert _dropped("diabetes", "buffer_full") - before == 400
    log.release.set()
    recorder.stop()
    assert len(log.entries) == 110


def test_a_failing_log_drops_and_counts_the_entries_and_the_writer_keeps_going(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = PredictionRecorder(BrokenLog(), flush_s=0.01)
    before = _dropped("diabetes", "store_failed")
    recorder.record(_pending(5))
    assert recorder.flush() is False
    recorder.record(_pending(5))
    assert recorder.flush() is False
    assert _dropped("diabetes", "store_failed") - before == 10
    # one line per burst, not one per failed write
    assert sum("dropped" in record.getMessage() for record in caplog.records) <= 1


def test_the_share_decides_per_request_whether_it_is_logged() -> None:
    assert not any(PredictionRecorder(InMemoryPredictionLog(), share=0.0).sampled() for _ in range(1000))
    assert all(PredictionRecorder(InMemoryPredictionLog(), share=1.0).sampled() for _ in range(1000))
    logged = sum(PredictionRecorder(InMemoryPredictionLog(), share=0.25).sampled() for _ in range(4000))
    assert 800 < logged < 1200


def test_the_writer_prunes_the_days_past_retention() -> None:
    log = InMemoryPredictionLog()
    old = _pending(2)
    log.write(old.entries())
    log.entries = [
        LoggedPrediction(**{**e.__dict__, "logged_at": e.logged_at - timedelta(days=40)}) for e in log.entries
    ]
    recorder = PredictionRecorder(log, retention=timedelta(days=30))
    recorder.record(_pending(1))
    assert recorder.flush()
    assert len(log.entries) == 1


def test_image_inputs_are_logged_as_the_json_their_task_kind_stores() -> None:
    digits = load_service("digits", SERVICES)
    images = [np.arange(64, dtype=float).reshape(8, 8) / 7, np.arange(64, dtype=float).reshape(8, 8).T]
    log = InMemoryPredictionLog()
    ids = new_prediction_ids(2)
    pending = PendingPredictions(
        "digits", digits.kind, "v1", None, datetime.now(UTC), ids, images, [{"label": "1"}, {"label": "2"}]
    )
    log.write(pending.entries())
    assert [entry.input for entry in log.entries] == [digits.kind.input_to_json(image) for image in images]
