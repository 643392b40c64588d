"""The chunk queue of each service (SQS) and its dead-letter queue: send, receive, extend, acknowledge."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from mlseam.batchstore.calls import call_aws
from mlseam.batchstore.records import ChunkMessage
from mlseam.errors import StoreError

_SEND_ATTEMPTS = 5
_DEAD_LETTERS_PER_RECEIVE = 10


def queue_name(prefix: str, service: str, *, dead_letter: bool = False) -> str:
    """The SQS queue of ``service``'s chunks, or of the chunks that kept failing."""
    return f"{prefix}-{service}-batches" + ("-dlq" if dead_letter else "")


@dataclass(frozen=True)
class ReceivedMessage:
    """One message taken from a queue: it stays ours until acknowledged, released or its visibility ends."""

    queue_url: str
    receipt: str
    body: str
    receives: int
    """How many times SQS has handed it out, this time included."""


@dataclass(frozen=True)
class QueuePolicy:
    """What a queue says about itself; None where it says nothing."""

    max_receives: int | None
    """Receives after which SQS moves a message to the dead-letter queue."""
    visibility_s: int | None


class ChunkQueue:
    """The chunk queues of every service, named ``<prefix>-<service>-batches`` (and ``...-dlq``)."""

    def __init__(self, sqs: Any, queue_prefix: str) -> None:
        self.sqs = sqs
        self.queue_prefix = queue_prefix
        self._urls: dict[str, str] = {}

    def queue_url(self, service: str, *, dead_letter: bool = False) -> str:
        """The queue's URL; StoreError when it does not exist."""
        name = queue_name(self.queue_prefix, service, dead_letter=dead_letter)
        if name not in self._urls:
            try:
                self._urls[name] = call_aws(self.sqs, "get_queue_url", f"finding SQS queue {name}", QueueName=name)[
                    "QueueUrl"
                ]
            except StoreError as exc:
                raise StoreError(f"SQS queue {name} does not exist; create it (Terraform does in AWS)") from exc
        return self._urls[name]

    def enqueue(self, messages: list[ChunkMessage]) -> None:
        """Send one SQS message per chunk (ten per call), retrying the ones SQS refused."""
        if not messages:
            return
        url = self.queue_url(messages[0].service)
        for first in range(0, len(messages), 10):
            entries = [{"Id": str(i), "MessageBody": m.encode()} for i, m in enumerate(messages[first : first + 10])]
            for attempt in range(_SEND_ATTEMPTS):
                sent = call_aws(self.sqs, "send_message_batch", "queueing chunks", QueueUrl=url, Entries=entries)
                failed = sent.get("Failed", [])
                if not failed:
                    break
                refused = {f["Id"] for f in failed}
                entries = [e for e in entries if e["Id"] in refused]
                time.sleep(0.1 * 2**attempt)
            else:
                raise StoreError(f"SQS refused {len(entries)} chunk messages: {failed[0].get('Message')}")

    def receive(self, service: str, *, max_messages: int, wait_s: int) -> list[ReceivedMessage]:
        """Up to ``max_messages`` chunk messages, waiting up to ``wait_s`` for the first (long poll)."""
        return self._receive(self.queue_url(service), max_messages=max_messages, wait_s=wait_s)

    def receive_dead_letters(self, service: str) -> list[ReceivedMessage]:
        """Some visible dead letters, none waited for; StoreError when there is no dead-letter queue."""
        return self._receive(self.queue_url(service, dead_letter=True), max_messages=_DEAD_LETTERS_PER_RECEIVE)

    def extend(self, message: ReceivedMessage, seconds: int | float) -> None:
        """Keep ``message`` out of other receivers' sight for ``seconds`` from now."""
        call_aws(
            self.sqs,
            "change_message_visibility",
            "extending a chunk's visibility",
            QueueUrl=message.queue_url,
            ReceiptHandle=message.receipt,
            VisibilityTimeout=seconds,
        )

    def release(self, message: ReceivedMessage) -> None:
        """Hand ``message`` back: visible again at once (SQS counts the receive, and redrives on the last one)."""
        self.extend(message, 0)

    def park(self, message: ReceivedMessage, seconds: int) -> None:
        """Leave a handled dead letter in its queue for operators, out of this worker's sight for ``seconds``."""
        self.extend(message, seconds)

    def acknowledge(self, message: ReceivedMessage) -> None:
        """Delete ``message``: its chunk is done (or there is nothing to do for it)."""
        call_aws(
            self.sqs,
            "delete_message",
            "acknowledging a chunk",
            QueueUrl=message.queue_url,
            ReceiptHandle=message.receipt,
        )

    def policy(self, service: str) -> QueuePolicy:
        """The queue's redrive policy (maxReceiveCount) and visibility timeout, as set on the queue itself."""
        attributes = call_aws(
            self.sqs,
            "get_queue_attributes",
            "reading the queue's policy",
            QueueUrl=self.queue_url(service),
            AttributeNames=["RedrivePolicy", "VisibilityTimeout"],
        ).get("Attributes", {})
        redrive = orjson.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else {}
        return QueuePolicy(
            max_receives=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
            visibility_s=int(attributes["VisibilityTimeout"]) if "VisibilityTimeout" in attributes else None,
        )

    def _receive(self, url: str, *, max_messages: int, wait_s: int = 0) -> list[ReceivedMessage]:
        response = call_aws(
            self.sqs,
            "receive_message",
            "receiving chunks",
            QueueUrl=url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return [
            ReceivedMessage(
                queue_url=url,
                receipt=raw["ReceiptHandle"],
                body=raw["Body"],
                receives=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            )
            for raw in response.get("Messages", [])
        ]
