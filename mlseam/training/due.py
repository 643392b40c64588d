"""Whether a retrain has anything to fit: new examples (or what ``retrain_when`` asks for), a changed model, --force."""

from __future__ import annotations

import hashlib
from typing import Any

from mlseam.examples import ExampleStats
from mlseam.manifest import RetrainWhen, Service
from mlseam.registry import ModelVersion
from mlseam.training.lineage import library_versions

_SHOWN = 60
"""Longest value quoted when a parameter changed."""


def candidate_lineage(service: Service, code_version: str | None) -> ModelVersion:
    """An unnumbered record of what a candidate would be trained with, to compare with the champion's."""
    return ModelVersion(
        service=service.name,
        number=0,
        primary_metric=service.model_class.primary_metric,
        code_version=code_version,
        params=dict(service.model_class.params),
        source_sha256=source_digest(service),
        holdout_fraction=service.manifest.holdout_fraction,
        library_versions=library_versions(),
    )


def source_digest(service: Service) -> str | None:
    """sha256 of the file holding the service's model class (``model.py``), or None when unreadable."""
    path = service.directory / service.manifest.model.partition(":")[0]
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def model_changes(champion: ModelVersion, candidate: ModelVersion) -> list[str]:
    """How ``candidate``'s lineage (params, model source, code version) differs from ``champion``'s."""
    changes = []
    changed = _changed_params(champion.params, candidate.params)
    if changed:
        changes.append(f"params changed ({changed})")
    file_changed = champion.source_sha256 is not None and candidate.source_sha256 != champion.source_sha256
    if file_changed:
        changes.append("the model's source file changed")
    if champion.code_version and candidate.code_version and champion.code_version != candidate.code_version:
        changes.append(f"code version {_short(champion.code_version)} -> {_short(candidate.code_version)}")
    return changes


def _short(code_version: str) -> str:
    """A SHA cut to 12 characters, keeping the ``-dirty`` mark of uncommitted changes."""
    sha, dirty, _ = code_version.partition("-dirty")
    return sha[:12] + dirty


def _changed_params(before: dict[str, Any], after: dict[str, Any]) -> str:
    keys = sorted(set(before) | set(after), key=str)
    parts = [
        f"{key}: {_show(before.get(key, '(unset)'))} -> {_show(after.get(key, '(unset)'))}"
        for key in keys
        if before.get(key) != after.get(key)
    ]
    return ", ".join(parts)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def retrain_trigger(
    champion: ModelVersion | None,
    lineage: ModelVersion,
    stats: ExampleStats,
    *,
    force: bool,
    when: RetrainWhen | None = None,
    higher_is_better: bool = True,
) -> str | None:
    """Why a candidate is worth fitting now, in words; None when nothing changed since the champion.

    ``lineage`` holds what the candidate would be trained with (params, source digest, code version).
    Without ``when`` (service.yaml's ``retrain_when``) any new example is reason enough; with it,
    only the conditions it declares are (a changed model and ``force`` always are).
    """
    if force:
        return "forced (mlseam retrain --force)"
    if champion is None:
        return "no champion yet"
    if when is None:
        reasons = [new_examples(champion, stats)] if stats.watermark != champion.watermark else []
    else:
        reasons = [fired for fired, _ in due_conditions(champion, stats, when, higher_is_better) if fired]
    if stats.quarantine_revision != champion.quarantine_revision:
        reasons.append(f"examples quarantined or released since champion {champion.version}")
    reasons.extend(model_changes(champion, lineage))
    return "; ".join(reasons) or None


def arrived_since(champion: ModelVersion, stats: ExampleStats) -> int:
    """Examples stored since ``champion`` read its training set (every row it saw, malformed ones too)."""
    return max(0, stats.count - (champion.train_count + champion.holdout_count + champion.malformed_rows))


def due_conditions(
    champion: ModelVersion, stats: ExampleStats, when: RetrainWhen, higher_is_better: bool
) -> list[tuple[str, str]]:
    """Each declared ``retrain_when`` condition as (what fired, or "" when it did not; its state in words)."""
    conditions: list[tuple[str, str]] = []
    if when.new_examples is not None:
        arrived = arrived_since(champion, stats)
        state = (
            f"{arrived} new examples since champion {champion.version} (retrain_when.new_examples: {when.new_examples})"
        )
        conditions.append((state if arrived >= when.new_examples else "", state))
    if when.live_worse_by is not None:
        conditions.append(_live_condition(champion, when.live_worse_by, higher_is_better))
    if when.drift:
        verdict = (champion.drift or {}).get("verdict")
        summary = (champion.drift or {}).get("summary") or "no drift measured yet (run mlseam monitor)"
        state = f"drift: {summary}"
        conditions.append((state if verdict == "drifted" else "", state))
    return conditions


def _live_condition(champion: ModelVersion, worse_by: float, higher_is_better: bool) -> tuple[str, str]:
    primary = champion.primary_metric
    live = ((champion.live or {}).get("metrics") or {}).get(primary)
    holdout = champion.metrics.get(primary)
    if live is None or holdout is None:
        return "", f"no live {primary} measured yet for champion {champion.version} (run mlseam monitor)"
    gap = holdout - live if higher_is_better else live - holdout
    labelled = (champion.live or {}).get("labelled", 0)
    state = (
        f"live {primary} {live:.4f} on {labelled} labelled predictions vs holdout {holdout:.4f} "
        f"(retrain_when.live_worse_by: {worse_by})"
    )
    return (state if gap > worse_by else "", state)


def new_examples(champion: ModelVersion, stats: ExampleStats) -> str:
    """The routine trigger: examples arrived since the champion was trained."""
    return f"new examples since champion {champion.version} (watermark {champion.watermark} -> {stats.watermark})"


def not_due(champion: ModelVersion, stats: ExampleStats, when: RetrainWhen | None, higher_is_better: bool) -> str:
    """The one line a run that fits nothing prints: why nothing is due."""
    if when is None:
        return (
            f"nothing to fit: no new examples since champion {champion.version} "
            f"(watermark {champion.watermark}) and its model is unchanged; champion kept, no version added"
        )
    states = "; ".join(state for _, state in due_conditions(champion, stats, when, higher_is_better))
    return f"not due: {states}; its model is unchanged; champion kept, no version added"
