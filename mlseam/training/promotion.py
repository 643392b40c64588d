"""Manual champion moves: promote a chosen version, approve or reject a pending one, roll back."""

from __future__ import annotations

import copy
import getpass
import socket

from mlseam.artifacts import ArtifactStore
from mlseam.errors import PromotionError
from mlseam.events import NO_EVENTS, EventPublisher, candidate_rejected, champion_moved
from mlseam.registry import (
    Champion,
    ChampionEvent,
    ModelVersion,
    Registry,
    Status,
    latest_pending,
    version_name,
    version_number,
)
from mlseam.runtime import recorded_signature
from mlseam.training.decision import reason_before_pending


def current_actor() -> str:
    """Who is running this command, as history records it: ``user@host``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name, e.g. an arbitrary uid in a container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def promote(
    registry: Registry,
    artifacts: ArtifactStore,
    service: str,
    version: str,
    *,
    reason: str = "manual promotion",
    actor: str = "",
    events: EventPublisher = NO_EVENTS,
) -> Champion:
    """Make ``version`` the champion after checking its artifact's digest (a pending one is settled too)."""
    record = _stored_version(registry, artifacts, service, version)
    champion = registry.get_champion(service)
    if champion is not None and champion.version == record.version:
        raise PromotionError(f"{service} {record.version} is already the champion")
    settles = _settled(record, f"promoted by {actor or 'hand'}") if record.status is Status.PENDING else None
    return _move(registry, events, record, champion, action="promote", reason=reason, actor=actor, settles=settles)


def _stored_version(registry: Registry, artifacts: ArtifactStore, service: str, version: str) -> ModelVersion:
    """The record of ``version``, once its artifact is found intact and signed; PromotionError when it has none."""
    number = version_number(version)
    record = registry.get_version(service, version_name(number) if number is not None else version)
    if not record.has_artifact:
        raise PromotionError(
            f"{service} {record.version} has no artifact (status {record.status.value}: {record.reason}); "
            "promote a version that stored one"
        )
    assert record.artifact_key and record.artifact_sha256  # noqa: S101 - has_artifact
    # Refuses a tampered or untrusted artifact: the APIs would never load it.
    name = f"{service} {record.version}"
    artifacts.get_signed(record.artifact_key, record.artifact_sha256, recorded_signature(record), name=name)
    return record


def _settled(record: ModelVersion, how: str) -> ModelVersion:
    """A pending record as promoted: the move settles it in the same write."""
    settled = copy.deepcopy(record)
    settled.status, settled.reason = Status.PROMOTED, f"{reason_before_pending(record.reason)}; {how}"
    return settled


def _move(
    registry: Registry,
    events: EventPublisher,
    record: ModelVersion,
    champion: Champion | None,
    *,
    action: str,
    reason: str,
    actor: str,
    settles: ModelVersion | None = None,
) -> Champion:
    """One conditional champion move (pointer, history, ``settles``), then its event."""
    service = record.service
    moved = registry.move_champion(
        service,
        record.version,
        expected_revision=champion.revision if champion else 0,
        action=action,
        reason=reason,
        actor=actor,
        settles=settles,
    )
    events.publish(
        champion_moved(
            service,
            action=action,
            from_version=champion.version if champion else None,
            to_version=moved.version,
            revision=moved.revision,
            actor=actor,
            reason=reason,
        )
    )
    return moved


def approve(
    registry: Registry,
    artifacts: ArtifactStore,
    service: str,
    version: str,
    *,
    actor: str,
    events: EventPublisher = NO_EVENTS,
) -> Champion:
    """Make the latest pending version champion, if the champion it was compared with still is.

    The same conditional write as a promotion, with the version settled as ``promoted`` in it.
    Refused (PromotionError, saying what to do) for a version that is not pending, not the latest
    pending one, or whose comparison is stale: the champion moved since the retrain compared them.
    """
    record = _pending(registry, service, version, "approve")
    latest = latest_pending(registry.list_versions(service))
    if latest is not None and latest.number != record.number:
        raise PromotionError(
            f"{service} {record.version} is not the latest pending version ({latest.version} is, compared "
            f"more recently); approve {latest.version}, or reject {record.version}"
        )
    champion = registry.get_champion(service)
    revision = champion.revision if champion else 0
    if record.champion_revision != revision:
        compared = record.champion_version or "no champion"
        now = f"{champion.version} (revision {revision})" if champion else "none"
        raise PromotionError(
            f"{service} {record.version} was compared with {compared} (revision {record.champion_revision}), but "
            f"the champion is now {now}: the comparison is stale; retrain (`mlseam retrain {service} --force`) "
            f"to compare with the current champion, or reject {record.version}"
        )
    _stored_version(registry, artifacts, service, record.version)
    reason = f"approved by {actor}: {reason_before_pending(record.reason)}"
    settles = _settled(record, f"approved by {actor}")
    return _move(registry, events, record, champion, action="approve", reason=reason, actor=actor, settles=settles)


def reject(
    registry: Registry, service: str, version: str, *, reason: str, actor: str, events: EventPublisher = NO_EVENTS
) -> ModelVersion:
    """Settle a pending version as ``rejected``, with who and why; it is never served."""
    record = _pending(registry, service, version, "reject")
    record.status = Status.REJECTED
    record.reason = f"rejected by {actor}: {reason} (was: {reason_before_pending(record.reason)})"
    registry.update_version(record, expected=Status.PENDING)
    events.publish(candidate_rejected(service, record.version, actor=actor, reason=reason))
    return record


def _pending(registry: Registry, service: str, version: str, verb: str) -> ModelVersion:
    number = version_number(version)
    record = registry.get_version(service, version_name(number) if number is not None else version)
    if record.status is not Status.PENDING:
        raise PromotionError(
            f"{service} {record.version} is not pending (status {record.status.value}); only a pending version "
            f"can be {verb}d: see `mlseam status {service}`"
        )
    return record


def rolled_back_versions(history: list[ChampionEvent]) -> set[str]:
    """Versions a rollback moved away from and that no promotion has made champion again since."""
    rolled_back: set[str] = set()
    for event in history:
        if event.action == "rollback" and event.from_version is not None:
            rolled_back.add(event.from_version)
        else:
            rolled_back.discard(event.to_version)
    return rolled_back


def _earlier_champions(history: list[ChampionEvent]) -> list[str]:
    """The champions before the current one, most recent first, as promotions and rollbacks left them."""
    line: list[str] = []
    for event in history:
        if event.action == "rollback":
            while line and line[-1] != event.to_version:
                line.pop()
            if not line:
                line.append(event.to_version)
        else:
            line.append(event.to_version)
    return line[-2::-1]


def rollback_target(registry: Registry, service: str) -> str:
    """The version a rollback returns to: the most recent earlier champion that can still serve.

    Versions rolled back away from are skipped (unless promoted again since), and so are versions
    without an artifact.
    """
    champion = registry.get_champion(service)
    if champion is None:
        raise PromotionError(f"{service} has no champion yet; nothing to roll back")
    history = registry.history(service)
    skipped = rolled_back_versions(history) | {champion.version}
    for version in _earlier_champions(history):
        if version in skipped:
            continue
        record = registry.get_version(service, version)
        if record.has_artifact and record.status not in (Status.FAILED, Status.REJECTED):
            return version
    raise PromotionError(f"{service}: no earlier champion to roll back to from {champion.version}")


def rollback(
    registry: Registry,
    artifacts: ArtifactStore,
    service: str,
    *,
    reason: str = "manual rollback",
    actor: str = "",
    events: EventPublisher = NO_EVENTS,
) -> Champion:
    """Move the champion back to ``rollback_target`` in one conditional write (pointer and history)."""
    champion = registry.get_champion(service)
    record = _stored_version(registry, artifacts, service, rollback_target(registry, service))
    assert champion is not None  # noqa: S101 - rollback_target refuses without one
    reason = f"{reason} (from {champion.version})"
    return _move(registry, events, record, champion, action="rollback", reason=reason, actor=actor)
