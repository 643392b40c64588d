"""The recorder logs predictions off the request path: bounded, dropping (and counting) rather than blocking."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson
import pytest

from mlseam.errors import StoreError
from mlseam.predictionlog import InMemoryPredictionLog, PredictionBatch, split_prediction_id
from mlseam.runtime import PredictionRecorder, new_prediction_ids
from mlseam.runtime.metrics import PREDICTIONS_DROPPED

FEATURES = {"age": 0.01, "bmi": 0.02}


def _pending(count: int, service: str = "diabetes") -> PredictionBatch:
    """A request of ``count`` items as the API logs it: its body and its answer, as they are."""
    ids = new_prediction_ids(count)
    body = orjson.dumps({"inputs": [FEATURES] * count})
    answer = orjson.dumps({"outputs": [{"value": 1.5, "prediction_id": pid} for pid in ids], "model_version": "v1"})
    return PredictionBatch(service, "v1", "req", datetime.now(UTC), ids[0], count, body, answer)


def _dropped(service: str, reason: str) -> float:
    return PREDICTIONS_DROPPED.labels(service, reason)._value.get()


class BlockedLog(InMemoryPredictionLog):
    """A log whose writes hang until released, as a stopped database server would."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, batches: list[PredictionBatch]) -> None:
        self.release.wait(10)
        super().write(batches)


class BrokenLog(InMemoryPredictionLog):
    def write(self, batches: list[PredictionBatch]) -> None:
        raise StoreError("cannot reach PostgreSQL at 127.0.0.1:1")


def test_prediction_ids_are_distinct_32_character_hex() -> None:
    ids = new_prediction_ids(1000)
    assert len(set(ids)) == 1000
    assert all(len(pid) == 32 and int(pid, 16) >= 0 for pid in ids)
    assert len({new_prediction_ids(1)[0] for _ in range(1000)}) == 1000


def test_predictions_answered_together_share_a_key_and_are_numbered_in_order() -> None:
    ids = new_prediction_ids(300)
    splits = [split_prediction_id(pid) for pid in ids]
    assert {split[0] for split in splits if split} == {ids[0][:24]}
    assert [split[1] for split in splits if split] == list(range(300))
    for not_an_id in ("", "xyz", ids[0].upper(), ids[0] + "0", ids[0][:-1] + "g"):
        assert split_prediction_id(not_an_id) is None


def test_recorded_predictions_reach_the_log_with_their_inputs_json_and_without_their_ids() -> None:
    log = InMemoryPredictionLog()
    recorder = PredictionRecorder(log, flush_s=0.01)
    recorder.start()
    pending = _pending(3)
    recorder.record(pending)
    recorder.stop()
    assert [e.prediction_id for e in log.entries] == [
        e["prediction_id"] for e in orjson.loads(pending.answer)["outputs"]
    ]
    assert log.entries[0].input == FEATURES
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


def test_the_writer_prunes_the_days_past_retention_from_its_first_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # a machine booted a minute ago: its monotonic clock is small
    monkeypatch.setattr("mlseam.runtime.recorder.time", SimpleNamespace(monotonic=lambda: 60.0))
    log = InMemoryPredictionLog()
    old = _pending(2)
    log.write([old])
    log.rows = [dataclasses.replace(row, logged_at=row.logged_at - timedelta(days=40)) for row in log.rows]
    recorder = PredictionRecorder(log, retention=timedelta(days=30))
    recorder.record(_pending(1))
    assert recorder.flush()
    assert len(log.entries) == 1
