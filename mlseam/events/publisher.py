"""Publishing one event to the SNS topic: a stable JSON envelope, and never an error for the caller."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from mlseam.aws import aws_client
from mlseam.settings import Settings

log = logging.getLogger("mlseam.events")

EVENT_SCHEMA = "mlseam.event/1"
"""The envelope's version: fields are only ever added under it; a change of meaning gets a new one."""

EVENTS = Counter("mlseam_events_total", "Platform events by type and publish result", ["type", "result"])


@dataclass(frozen=True)
class Event:
    """What happened to a service: its type, the version it concerns, who did it and why."""

    type: str
    service: str
    version: str | None
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def envelope(self, environment: str) -> dict[str, Any]:
        """The JSON object subscribers receive (``schema`` first; see the README, "Events")."""
        return {
            "schema": EVENT_SCHEMA,
            "id": uuid.uuid4().hex,
            "type": self.type,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "environment": environment,
            "service": self.service,
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


class EventPublisher:
    """Publishes events to one SNS topic; without a topic, publishes nothing."""

    def __init__(
        self,
        topic_arn: str | None,
        *,
        environment: str = "local",
        client: Any = None,
        settings: Settings | None = None,
    ) -> None:
        self.topic_arn = topic_arn
        self.environment = environment
        self._client = client
        self._settings = settings
        self._lock = threading.Lock()

    def _sns(self) -> Any:
        # Built on first use: most processes (an API whose reloads all succeed) never publish.
        with self._lock:
            if self._client is None:
                assert self._settings is not None  # noqa: S101 - a publisher has a client or settings
                self._client = aws_client(self._settings, "sns")
            return self._client

    def publish(self, event: Event) -> bool:
        """Send ``event``; True once SNS took it. A failure is logged and counted, never raised."""
        if self.topic_arn is None:
            return False
        envelope = event.envelope(self.environment)
        try:
            self._sns().publish(
                TopicArn=self.topic_arn,
                Message=json.dumps(envelope, allow_nan=False, default=str),
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": str(envelope[name])}
                    for name in ("type", "service", "environment")
                },
            )
        except Exception as exc:  # noqa: BLE001 - publishing never fails the operation it reports
            EVENTS.labels(event.type, "failed").inc()
            log.warning(
                "could not publish a %s event of %s to %s: %s: %s",
                event.type,
                event.service,
                self.topic_arn,
                type(exc).__name__,
                exc,
            )
            return False
        EVENTS.labels(event.type, "published").inc()
        return True


NO_EVENTS = EventPublisher(None)
"""A publisher that sends nothing: what stores built without settings (unit tests) use."""


def build_publisher(settings: Settings) -> EventPublisher:
    """The publisher of ``settings``: its topic (``MLSEAM_EVENTS_TOPIC_ARN``), environment and AWS endpoint."""
    return EventPublisher(settings.events_topic_arn, environment=settings.environment, settings=settings)


def create_events_topic(client: Any, topic_arn: str) -> None:
    """Create the topic ``topic_arn`` names, as Terraform does in AWS (local stack and tests only)."""
    client.create_topic(Name=topic_arn.rsplit(":", 1)[-1])
