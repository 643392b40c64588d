"""Manual champion moves: promote a chosen version, or roll back to the previous champion."""

from __future__ import annotations

from mlseam.artifacts import ArtifactStore
from mlseam.errors import PromotionError
from mlseam.registry import Champion, Registry, Status, version_name, version_number
from mlseam.registry.records import now_iso


def promote(
    registry: Registry, artifacts: ArtifactStore, service: str, version: str, *, reason: str = "manual promotion"
) -> Champion:
    """Make ``version`` the champion after checking its artifact's digest."""
    number = version_number(version)
    record = registry.get_version(service, version_name(number) if number is not None else version)
    if not record.has_artifact:
        raise PromotionError(
            f"{service} {record.version} has no artifact (status {record.status.value}: {record.reason}); "
            "promote a version that stored one"
        )
    assert record.artifact_key and record.artifact_sha256  # noqa: S101 - has_artifact
    artifacts.get(record.artifact_key, record.artifact_sha256)  # refuses a tampered artifact
    champion = registry.get_champion(service)
    if champion is not None and champion.version == record.version:
        raise PromotionError(f"{service} {record.version} is already the champion")
    return registry.move_champion(
        service,
        record.version,
        expected_revision=champion.revision if champion else 0,
        action="promote",
        reason=reason,
    )


def rollback_target(registry: Registry, service: str) -> str:
    """The version a rollback returns to: the newest earlier champion not itself rolled back."""
    champion = registry.get_champion(service)
    if champion is None:
        raise PromotionError(f"{service} has no champion yet; nothing to roll back")
    current = version_number(champion.version) or 0
    was_champion = {event.to_version for event in registry.history(service)}
    for record in registry.list_versions(service):
        if (
            record.number < current
            and record.version in was_champion
            and record.rolled_back_at is None
            and record.has_artifact
            and record.status != Status.FAILED
        ):
            return record.version
    raise PromotionError(f"{service}: no earlier champion to roll back to from {champion.version}")


def rollback(
    registry: Registry, artifacts: ArtifactStore, service: str, *, reason: str = "manual rollback"
) -> Champion:
    """Move the champion back to ``rollback_target`` and mark the version left as rolled back."""
    champion = registry.get_champion(service)
    target = rollback_target(registry, service)
    record = registry.get_version(service, target)
    assert champion is not None and record.artifact_key and record.artifact_sha256  # noqa: S101
    artifacts.get(record.artifact_key, record.artifact_sha256)
    moved = registry.move_champion(
        service,
        target,
        expected_revision=champion.revision,
        action="rollback",
        reason=f"{reason} (from {champion.version})",
    )
    registry.mark_rolled_back(service, champion.version, now_iso())
    return moved
