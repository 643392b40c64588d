"""An SQS queue subscribed to the platform's events topic in the AWS emulator, read by the tests."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from mlseam.aws import aws_client
from mlseam.settings import Settings


@dataclass
class EventQueue:
    """Every event published since it subscribed, as the JSON subscribers receive."""

    sqs: Any
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(self, service: str, kind: str, *, seconds: float = 15) -> dict[str, Any]:
        """The first event of ``kind`` about ``service``; fails the test after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            for event in self.received:
                if event["service"] == service and event["type"] == kind:
                    return event
            if time.monotonic() > deadline:
                seen = [(e["service"], e["type"]) for e in self.received]
                raise AssertionError(f"no {kind} event of {service} within {seconds}s; received {seen}")
            self._receive()

    def of(self, service: str) -> list[dict[str, Any]]:
        """The events about ``service`` received so far (after draining what is queued)."""
        self._receive(wait_s=1)
        return [event for event in self.received if event["service"] == service]

    def _receive(self, wait_s: int = 1) -> None:
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
        for message in answer.get("Messages", []):
            self.received.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def subscribe_queue(settings: Settings) -> EventQueue:
    """A new queue subscribed to ``settings``' events topic with raw delivery (the body is the event)."""
    assert settings.events_topic_arn is not None
    sqs, sns = aws_client(settings, "sqs"), aws_client(settings, "sns")
    url = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=settings.events_topic_arn, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"}
    )
    return EventQueue(sqs, url)
