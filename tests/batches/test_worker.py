"""The polling loop hands each message on or back: what it acknowledges, releases and completes."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

from mlseam.batches.chunks import ChunkResult
from mlseam.batches.worker import Worker
from mlseam.batchstore import Batch, ChunkMessage, ReceivedMessage
from mlseam.settings import Settings

BATCH = Batch(
    service="digits",
    batch_id="b" * 32,
    model_version="v1",
    total=4,
    chunks=2,
    chunk_items=2,
    created_at="2026-12-03T00:00:00.000+00:00",
    expires_at=2_000_000_000,
    request_sha256="x",
)
RESULT = ChunkResult(lines=[b"{}", b"{}"], errors=0, timings_ms={"read": 1, "predict": 1})


def _message(chunk: int = 0, body: str | None = None, receives: int = 1) -> ReceivedMessage:
    if body is None:
        body = ChunkMessage("digits", BATCH.batch_id, chunk, "v1").encode()
    return ReceivedMessage(queue_url="q", receipt=f"r{chunk}", body=body, receives=receives)


class RecordingQueue:
    def __init__(self, messages: list[ReceivedMessage] | None = None) -> None:
        self.messages = messages or []
        self.calls: list[tuple[str, str]] = []

    def receive(self, service: str, *, max_messages: int, wait_s: int) -> list[ReceivedMessage]:
        return self.messages

    def acknowledge(self, message: ReceivedMessage) -> None:
        self.calls.append(("acknowledge", message.receipt))

    def release(self, message: ReceivedMessage) -> None:
        self.calls.append(("release", message.receipt))

    def extend(self, message: ReceivedMessage, seconds: float) -> None:
        self.calls.append(("extend", message.receipt))


class FakeProcessor:
    def __init__(self, batch: Batch | None, fails: bool = False) -> None:
        self.batch, self.fails = batch, fails
        self.calls: list[tuple[str, Any]] = []
        self.max_receives = 3

    def batch_for(self, chunk: ChunkMessage) -> Batch | None:
        return self.batch

    def predict(self, batch: Batch, chunk: int) -> ChunkResult:
        if self.fails:
            raise ValueError("the model broke")
        return RESULT

    def record_failure(self, batch: Batch, chunk: int, exc: Exception, receives: int) -> None:
        self.calls.append(("record_failure", (chunk, str(exc), receives)))

    def complete(self, batch: Batch, chunk: int, result: ChunkResult) -> None:
        self.calls.append(("complete", chunk))

    def finish_if_complete(self, batch: Batch) -> None:
        self.calls.append(("finish_if_complete", batch.batch_id))


class Store:
    def __init__(self, queue: RecordingQueue) -> None:
        self.queue = queue


def _worker(queue: RecordingQueue, processor: FakeProcessor) -> Worker:
    worker = Worker(
        SimpleNamespace(name="digits"),  # type: ignore[arg-type]
        store=Store(queue),  # type: ignore[arg-type]
        registry=None,  # type: ignore[arg-type]
        artifacts=None,  # type: ignore[arg-type]
        settings=Settings(worker_wait_s=0),
    )
    worker.chunks = processor  # type: ignore[assignment]
    worker._last_sweep = float("inf")  # no dead-letter sweep in these tests
    return worker


def test_a_predicted_chunk_is_completed_before_its_message_is_acknowledged() -> None:
    queue, processor = RecordingQueue(), FakeProcessor(BATCH)
    worker = _worker(queue, processor)
    worker.handle(_message(1))
    worker._wait_for_writes()
    assert processor.calls == [("complete", 1)] and queue.calls == [("acknowledge", "r1")]


def test_a_failed_attempt_is_recorded_and_its_message_handed_back() -> None:
    queue, processor = RecordingQueue(), FakeProcessor(BATCH, fails=True)
    _worker(queue, processor).handle(_message(0, receives=2))
    assert processor.calls == [("record_failure", (0, "the model broke", 2))]
    assert queue.calls == [("release", "r0")]


def test_a_message_that_is_not_a_chunk_or_names_no_batch_is_dropped() -> None:
    queue = RecordingQueue()
    _worker(queue, FakeProcessor(BATCH)).handle(_message(body='{"service": "digits"}'))
    _worker(queue, FakeProcessor(None)).handle(_message(0))
    assert queue.calls == [("acknowledge", "r0"), ("acknowledge", "r0")]


def test_a_chunk_counted_before_only_awaits_finalising() -> None:
    counted = dataclasses.replace(BATCH, done_chunks={0})
    queue, processor = RecordingQueue(), FakeProcessor(counted)
    _worker(queue, processor).handle(_message(0))
    assert processor.calls == [("finish_if_complete", BATCH.batch_id)] and queue.calls == [("acknowledge", "r0")]


def test_messages_received_while_stopping_are_handed_back_untouched() -> None:
    queue, processor = RecordingQueue([_message(0), _message(1)]), FakeProcessor(BATCH)
    worker = _worker(queue, processor)
    worker.stop.set()
    worker.poll_once()
    assert queue.calls == [("release", "r0"), ("release", "r1")] and processor.calls == []
