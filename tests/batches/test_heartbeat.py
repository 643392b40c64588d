"""A chunk that outlives half its visibility timeout has its visibility extended until it is done."""

from __future__ import annotations

import time
from typing import Any

from mlseam.batches.worker import _Heartbeat


class RecordingSqs:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def change_message_visibility(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def test_visibility_is_extended_while_the_chunk_runs_and_not_after() -> None:
    sqs = RecordingSqs()
    with _Heartbeat(sqs, "queue-url", "receipt-1", timeout_s=0.2):  # type: ignore[arg-type]
        time.sleep(0.55)  # a chunk taking almost three timeouts
    extended = len(sqs.calls)
    time.sleep(0.3)
    assert extended >= 4  # every half timeout
    assert len(sqs.calls) == extended  # stopped with the chunk
    assert sqs.calls[0] == {"QueueUrl": "queue-url", "ReceiptHandle": "receipt-1", "VisibilityTimeout": 0.2}


def test_a_quick_chunk_extends_nothing() -> None:
    sqs = RecordingSqs()
    with _Heartbeat(sqs, "queue-url", "receipt-1", timeout_s=10):  # type: ignore[arg-type]
        pass
    assert sqs.calls == []
