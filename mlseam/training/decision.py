"""A retrain's decision: promote the candidate or keep the champion, and the reason it records."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlseam.contract import Model, overrides_is_better
from mlseam.errors import PromotionConflictError
from mlseam.manifest import PromotionPolicy
from mlseam.registry import Champion, ModelVersion, Registry, Status
from mlseam.training.noise import Gain
from mlseam.training.split import holdout_mask

log = logging.getLogger("mlseam.retrain")

RETRAIN_ACTOR = "retrain job"
"""Who the champion history says moved the champion when a retrain promoted."""

PENDING_NOTE = "; pending approval"
"""Ends a pending version's reason, before the commands that settle it (dropped once it is settled)."""

SHADOW_NOTE = "; pending the live comparison in shadow"
"""Ends the reason of a winner that waits in shadow (``shadow.auto_after_shadow``) for ``mlseam monitor`` to decide."""


def reason_before_pending(reason: str) -> str:
    """A pending version's reason without the note that it waits (and the commands after it)."""
    return reason.partition(PENDING_NOTE)[0].partition(SHADOW_NOTE)[0]


def waits_for_shadow(record: ModelVersion) -> bool:
    """Whether a pending version waits for the live comparison rather than for an operator."""
    return record.status is Status.PENDING and SHADOW_NOTE in record.reason


@dataclass(frozen=True)
class Verdict:
    """How a retrain ends: its status, the reason recorded, whether the champion needs a look."""

    status: Status
    reason: str
    champion_unhealthy: bool = False


def judge_candidate(
    record: ModelVersion,
    candidate: Model,
    champion: Champion | None,
    champion_problem: str | None,
    note: str = "",
    *,
    gain: Gain | None = None,
    no_gain_why: str = "",
) -> Verdict:
    """PROMOTED (with the reason to record) when the candidate should become champion, else KEPT.

    Unless the model decides with its own ``is_better``, a gain must also be larger than the
    holdout's noise: ``gain``'s whole interval on the better side of zero. Without a ``gain``
    (no per-row scores, ``no_gain_why`` says why) the metric comparison alone decides.
    """
    primary = record.primary_metric
    score = f"{primary} {record.metrics[primary]:.4f}"
    rows = f"on {record.holdout_count} holdout rows"
    if champion is None:
        return Verdict(Status.PROMOTED, f"first model: {score} {rows}")
    if champion_problem is not None:
        return Verdict(
            Status.KEPT,
            f"{score} {rows}, but champion {champion.version} could not be evaluated "
            f"({champion_problem}); champion kept, promote by hand if intended",
            champion_unhealthy=True,
        )
    assert record.champion_metrics is not None  # noqa: S101 - set when no problem
    spread = f", {gain.describe()}" if gain is not None else ""
    versus = f"{score} vs champion {champion.version} {record.champion_metrics[primary]:.4f}{spread} {rows}{note}"
    if not candidate.is_better(record.metrics, record.champion_metrics):
        return Verdict(Status.KEPT, f"not better: {versus}; champion kept")
    if overrides_is_better(candidate):
        return Verdict(Status.PROMOTED, f"better by the model's is_better: {versus}")
    if gain is None:
        return Verdict(Status.PROMOTED, f"better: {versus} (not tested against the holdout's noise: {no_gain_why})")
    if not gain.beyond_noise(candidate.higher_is_better):
        return Verdict(
            Status.KEPT,
            f"not better beyond noise: {versus}; the interval includes no gain, so this holdout cannot "
            "tell it from chance; champion kept",
        )
    return Verdict(Status.PROMOTED, f"better: {versus}")


def promote_candidate(
    registry: Registry, record: ModelVersion, champion: Champion | None, reason: str, policy: PromotionPolicy = "auto"
) -> Verdict:
    """Move the champion to ``record`` if it has not moved since the retrain read it; KEPT if it has.

    Under the ``approve`` policy nothing moves: the winner is PENDING, with the champion revision
    it was compared with, until ``mlseam approve`` (which refuses once the champion has moved).
    Under ``shadow`` it is PENDING too, shadowed by the APIs until ``mlseam monitor`` decides on the
    live comparison (a first model, with nothing to compare it with, is promoted as under ``auto``).
    """
    record.champion_revision = champion.revision if champion else 0
    if policy == "shadow" and champion is not None:
        return Verdict(
            Status.PENDING,
            f"{reason}{SHADOW_NOTE}: `mlseam monitor {record.service}` promotes or rejects it once "
            f"enough shadowed predictions are labelled (or by hand: `mlseam approve {record.service} "
            f"{record.version}`)",
        )
    if policy == "approve":
        return Verdict(
            Status.PENDING,
            f"{reason}{PENDING_NOTE}: `mlseam approve {record.service} {record.version}` "
            f"or `mlseam reject {record.service} {record.version} --reason ...`",
        )
    try:
        registry.move_champion(
            record.service,
            record.version,
            expected_revision=champion.revision if champion else 0,
            action="promote",
            reason=reason,
            actor=RETRAIN_ACTOR,
        )
    except PromotionConflictError:
        primary = record.primary_metric
        return Verdict(
            Status.KEPT,
            f"{primary} {record.metrics[primary]:.4f} on {record.holdout_count} holdout rows, but the champion "
            "changed during this retrain; champion kept, retrain again to compare with the new champion",
        )
    return Verdict(Status.PROMOTED, reason)


def champion_overlap_note(champion: ModelVersion, holdout_ids: Any, service: str, holdout_fraction: float) -> str:
    """A note when the champion trained on some of today's holdout rows (the fraction has grown since).

    Raising ``holdout_fraction`` moves rows from train to holdout; the comparison stays on the
    same rows for both models, but the champion has seen some of them, which favours it.
    """
    then, now = champion.holdout_fraction, holdout_fraction
    if then is None or then >= now:
        return ""
    ids = np.asarray(holdout_ids)
    seen = int(np.count_nonzero((ids <= champion.watermark) & ~holdout_mask(ids, service, then)))
    if not seen:
        return ""
    log.warning("%s: champion %s trained on %d of the holdout rows", service, champion.version, seen)
    return (
        f" (note: champion {champion.version} trained on {seen} of them, as holdout_fraction grew "
        f"from {then} to {now}; that favours the champion)"
    )
