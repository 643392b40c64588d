"""The data of every plot, as plain JSON for the page's script: one point per version, moves marked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlseam.dashboard.facts import ServiceFacts, VersionFacts, examples_read


def metric_of(record: VersionFacts, metrics: dict[str, Any] | None) -> float | None:
    """The record's primary metric in ``metrics``, None when it was not measured."""
    value = (metrics or {}).get(record.primary_metric)
    return float(value) if isinstance(value, int | float) else None


def live_of(record: VersionFacts) -> float | None:
    """The primary metric on labelled live predictions, from the last ``mlseam monitor``."""
    return metric_of(record, (record.live or {}).get("metrics")) if record.live else None


SPARK_POINTS = 60
"""Versions a sparkline shows, the latest: more would not fit its 120 pixels (the service page has them all)."""


def sparkline(facts: ServiceFacts) -> dict[str, Any]:
    """The primary metric on the holdout, one point per version (the last SPARK_POINTS), oldest first."""
    shown = facts.versions[-SPARK_POINTS:]
    return {"kind": "sparkline", "x": [v.version for v in shown], "holdout": [metric_of(v, v.metrics) for v in shown]}


def describe_sparkline(facts: ServiceFacts) -> str:
    """The sparkline's numbers in words, for screen readers: ``rmse on the holdout per version: v1 0.5000, ...``."""
    shown = facts.versions[-SPARK_POINTS:]
    points = ", ".join(
        f"{v.version} {'-' if value is None else f'{value:.4f}'}"
        for v, value in ((v, metric_of(v, v.metrics)) for v in shown)
    )
    which = f"of the last {len(shown)} versions" if len(shown) < len(facts.versions) else "per version"
    return f"{facts.primary_metric} on the holdout {which}: {points or 'none yet'}"


def metric_chart(facts: ServiceFacts) -> dict[str, Any]:
    """Holdout and live primary metric per version, with each promotion and rollback marked."""
    by_version = {v.version: v for v in facts.versions}
    moves = [e for e in facts.history if e.to_version in by_version]
    return {
        "kind": "metric",
        "title": f"{facts.primary_metric} per version",
        "metric": facts.primary_metric,
        "x": [v.version for v in facts.versions],
        "holdout": [metric_of(v, v.metrics) for v in facts.versions],
        "live": [live_of(v) for v in facts.versions],
        "moves": {
            "x": [e.to_version for e in moves],
            "y": [metric_of(by_version[e.to_version], by_version[e.to_version].metrics) for e in moves],
            "text": [f"{e.action} #{e.revision} {e.from_version or '-'} to {e.to_version}" for e in moves],
        },
    }


def examples_chart(facts: ServiceFacts, now: datetime) -> dict[str, Any]:
    """Examples each retrain read, then the examples stored now."""
    read = [v for v in facts.versions if examples_read(v) > 0]
    x = [v.started_at for v in read]
    y = [examples_read(v) for v in read]
    if facts.examples is not None:
        x.append(now.isoformat(timespec="seconds"))
        y.append(facts.examples)
    return {"kind": "examples", "title": "examples over time", "x": x, "y": y, "labels": [v.version for v in read]}
