"""The event types, one builder each, so every publisher writes a type's fields the same way."""

from __future__ import annotations

from typing import Any

from mlseam.events.publisher import Event


def champion_moved(
    service: str,
    *,
    action: str,
    from_version: str | None,
    to_version: str,
    revision: int,
    actor: str,
    reason: str,
) -> Event:
    """``champion.moved``: a promotion (by a retrain or by hand), an approval or a rollback."""
    details = {"action": action, "from_version": from_version, "to_version": to_version, "revision": revision}
    return Event("champion.moved", service, to_version, actor, reason, details)


def candidate_pending(
    service: str, version: str, *, champion_version: str | None, champion_revision: int, actor: str, reason: str
) -> Event:
    """``candidate.pending``: a retrain's winner waits for ``mlseam approve`` (the policy is ``approve``)."""
    details = {"champion_version": champion_version, "champion_revision": champion_revision}
    return Event("candidate.pending", service, version, actor, reason, details)


def candidate_rejected(service: str, version: str, *, actor: str, reason: str) -> Event:
    """``candidate.rejected``: an operator turned a pending version down."""
    return Event("candidate.rejected", service, version, actor, reason)


def retrain_ended(service: str, version: str, *, status: str, actor: str, reason: str) -> Event:
    """``retrain.refused`` (a quality gate, or the candidate's own fit or evaluate) or ``retrain.failed``."""
    return Event(f"retrain.{status}", service, version, actor, reason, {"status": status})


def reload_failed(service: str, version: str, *, serving: str | None, failures: int, reason: str) -> Event:
    """``reload.failed``: an API could not load the champion and keeps serving ``serving`` (None: nothing)."""
    return Event("reload.failed", service, version, "api", reason, {"serving": serving, "failures": failures})


def drift_flagged(service: str, version: str, *, drift: dict[str, Any]) -> Event:
    """``drift.flagged``: ``mlseam monitor`` found the champion's live inputs or outputs moved (moderate or drifted)."""
    details: dict[str, Any] = {key: drift[key] for key in ("verdict", "window", "since", "measured_at") if key in drift}
    return Event("drift.flagged", service, version, "monitor", str(drift.get("summary", "")), details)
