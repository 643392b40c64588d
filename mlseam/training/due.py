"""Whether a retrain has anything to fit: new examples, a model changed since the champion, or --force."""

from __future__ import annotations

import hashlib
from typing import Any

from mlseam.examples import ExampleStats
from mlseam.manifest import Service
from mlseam.registry import ModelVersion

_SHOWN = 60
"""Longest value quoted when a parameter changed."""


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
    champion: ModelVersion | None, lineage: ModelVersion, stats: ExampleStats, *, force: bool
) -> str | None:
    """Why a candidate is worth fitting now, in words; None when nothing changed since the champion.

    ``lineage`` holds what the candidate would be trained with (params, source digest, code version).
    """
    if force:
        return "forced (mlseam retrain --force)"
    if champion is None:
        return "no champion yet"
    reasons = [new_examples(champion, stats)] if stats.watermark != champion.watermark else []
    if stats.quarantine_revision != champion.quarantine_revision:
        reasons.append(f"examples quarantined or released since champion {champion.version}")
    reasons.extend(model_changes(champion, lineage))
    return "; ".join(reasons) or None


def new_examples(champion: ModelVersion, stats: ExampleStats) -> str:
    """The routine trigger: examples arrived since the champion was trained."""
    return f"new examples since champion {champion.version} (watermark {champion.watermark} -> {stats.watermark})"
