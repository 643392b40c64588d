"""What a finished retrain tells the events topic: a champion move, a pending candidate, a refusal or a failure."""

from __future__ import annotations

from mlseam.events import EventPublisher, candidate_pending, champion_moved, retrain_ended
from mlseam.registry import Champion, ModelVersion, Status
from mlseam.training.decision import RETRAIN_ACTOR


def announce_retrain(events: EventPublisher, record: ModelVersion, champion: Champion | None) -> None:
    """Publish what a finished retrain did: moved the champion, left a pending candidate, refused or failed."""
    service, version, reason = record.service, record.version, record.reason
    if record.status is Status.PROMOTED:
        from_version, revision = (champion.version, champion.revision + 1) if champion else (None, 1)
        events.publish(
            champion_moved(
                service,
                action="promote",
                from_version=from_version,
                to_version=version,
                revision=revision,
                actor=RETRAIN_ACTOR,
                reason=reason,
            )
        )
    elif record.status is Status.PENDING:
        events.publish(
            candidate_pending(
                service,
                version,
                champion_version=champion.version if champion else None,
                champion_revision=record.champion_revision or 0,
                actor=RETRAIN_ACTOR,
                reason=reason,
            )
        )
    elif record.status in (Status.REFUSED, Status.FAILED):
        events.publish(retrain_ended(service, version, status=record.status.value, actor=RETRAIN_ACTOR, reason=reason))
