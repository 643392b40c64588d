"""Platform events (champion moves, pending candidates, failed retrains and reloads, drift) published to SNS."""

from mlseam.events.kinds import (
    candidate_pending,
    candidate_rejected,
    champion_moved,
    drift_flagged,
    reload_failed,
    retrain_ended,
)
from mlseam.events.publisher import (
    EVENT_SCHEMA,
    NO_EVENTS,
    Event,
    EventPublisher,
    build_publisher,
    create_events_topic,
)

__all__ = [
    "EVENT_SCHEMA",
    "NO_EVENTS",
    "Event",
    "EventPublisher",
    "build_publisher",
    "candidate_pending",
    "candidate_rejected",
    "champion_moved",
    "create_events_topic",
    "drift_flagged",
    "reload_failed",
    "retrain_ended",
]
