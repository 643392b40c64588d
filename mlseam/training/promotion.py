"""Manual champion moves: promote a chosen version, or roll back to the previous champion."""

from __future__ import annotations

import getpass
import socket

from mlseam.artifacts import ArtifactStore
from mlseam.errors import PromotionError
from mlseam.registry import Champion, ChampionEvent, Registry, Status, version_name, version_number


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
        actor=actor,
    )


def rolled_back_versions(history: list[ChampionEvent]) -> set[str]:
    """Versions a rollback moved away from and that no promotion has made champion again since."""
    rolled_back: set[str] = set()
    for event in history:
        if event.action == "rollback" and event.from_version is not None:
            rolled_back.add(event.from_version)
        elif event.action == "promote":
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
        if record.has_artifact and record.status != Status.FAILED:
            return version
    raise PromotionError(f"{service}: no earlier champion to roll back to from {champion.version}")


def rollback(
    registry: Registry,
    artifacts: ArtifactStore,
    service: str,
    *,
    reason: str = "manual rollback",
    actor: str = "",
) -> Champion:
    """Move the champion back to ``rollback_target`` in one conditional write (pointer and history)."""
    champion = registry.get_champion(service)
    target = rollback_target(registry, service)
    record = registry.get_version(service, target)
    assert champion is not None and record.artifact_key and record.artifact_sha256  # noqa: S101
    artifacts.get(record.artifact_key, record.artifact_sha256)
    return registry.move_champion(
        service,
        target,
        expected_revision=champion.revision,
        action="rollback",
        reason=f"{reason} (from {champion.version})",
        actor=actor,
    )
