"""A chunk that outlives half its visibility timeout has its visibility extended until it is done."""

from __future__ import annotations

import time

from mlseam.batches.worker import Heartbeat
from mlseam.batchstore import ReceivedMessage

MESSAGE = ReceivedMessage(queue_url="queue-url", receipt="receipt-1", body="{}", receives=1)


class RecordingQueue:
    def __init__(self) -> None:
        self.calls: list[tuple[ReceivedMessage, float]] = []

    def extend(self, message: ReceivedMessage, seconds: float) -> None:
        self.calls.append((message, seconds))


def test_visibility_is_extended_while_the_chunk_runs_and_not_after() -> None:
    queue = RecordingQueue()
    with Heartbeat(queue, MESSAGE, timeout_s=0.2):  # type: ignore[arg-type]
        time.sleep(0.55)  # a chunk taking almost three timeouts
    extended = len(queue.calls)
    time.sleep(0.3)
    assert extended >= 4  # every half timeout
    assert len(queue.calls) == extended  # stopped with the chunk
    assert queue.calls[0] == (MESSAGE, 0.2)


def test_a_quick_chunk_extends_nothing() -> None:
    queue = RecordingQueue()
    with Heartbeat(queue, MESSAGE, timeout_s=10):  # type: ignore[arg-type]
        pass
    assert queue.calls == []
