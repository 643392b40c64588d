"""The challenger against the champion on the same live requests, read from the prediction log.

Per challenger version: how many requests it was handed and how each ended (``ok``, ``error``,
``timeout``, ``dropped``), how often its outputs agree with the champion's for the same inputs, and
both models' latency (p50, p95) on those requests. Needs no label and no model: status reads it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlseam.predictionlog import LoggedRequest, PredictionLog

MAX_SHADOW_ROWS = 100_000
"""Most shadowed requests read per comparison (the oldest of a window come first)."""

AGREE_WITHIN = 0.01
"""Two regression values agree when they are within this share of each other."""


def outputs_agree(champion: Any, challenger: Any) -> bool:
    """Whether two answers to one input say the same: the same label or text, a value within 1%, as many boxes."""
    if not isinstance(champion, dict) or not isinstance(challenger, dict):
        return bool(champion == challenger)
    for key in ("label", "text"):
        if key in champion or key in challenger:
            return bool(champion.get(key) == challenger.get(key))
    if "value" in champion and isinstance(challenger.get("value"), int | float):
        return math.isclose(float(champion["value"]), float(challenger["value"]), rel_tol=AGREE_WITHIN, abs_tol=1e-9)
    if "boxes" in champion:
        return len(champion["boxes"]) == len(challenger.get("boxes") or [])
    return bool(champion == challenger)


def percentiles(values: list[float]) -> dict[str, float]:
    """``{"p50": ..., "p95": ...}`` of ``values`` (nearest rank), empty for none."""
    ordered = sorted(values)
    if not ordered:
        return {}
    rank = {q: ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] for q in (0.5, 0.95)}
    return {"p50": round(rank[0.5], 3), "p95": round(rank[0.95], 3)}


@dataclass
class ShadowComparison:
    """One challenger version against the champion's answers to the same requests."""

    version: str
    outcomes: Counter[str] = field(default_factory=Counter)
    compared: int = 0
    agreed: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    champion_latency_ms: dict[str, float] = field(default_factory=dict)
    champions: set[str] = field(default_factory=set)

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.compared if self.compared else None

    @property
    def error_rate(self) -> float | None:
        """Share of the requests it ran (not the dropped ones) that raised or timed out."""
        ran = self.requests - self.outcomes["dropped"]
        return (self.outcomes["error"] + self.outcomes["timeout"]) / ran if ran else None

    def describe(self) -> str:
        """``v2 in shadow: 812 requests (ok 790, error 12, ...); agrees on 97.1% of 790 ...; p50 ...``."""
        counts = ", ".join(f"{name} {self.outcomes[name]}" for name in ("ok", "error", "timeout", "dropped"))
        text = f"{self.version} in shadow: {self.requests} requests ({counts})"
        if self.error_rate is not None:
            text += f", error rate {self.error_rate:.1%}"
        if self.agreement is not None:
            text += f"; agrees with the champion on {self.agreement:.1%} of {self.compared} predictions"
        if self.latency_ms:
            text += f"; latency p50 {self.latency_ms['p50']:.1f} ms, p95 {self.latency_ms['p95']:.1f} ms"
        if self.champion_latency_ms:
            champions = "/".join(sorted(self.champions)) or "champion"
            latency = self.champion_latency_ms
            text += f" (champion {champions}: p50 {latency['p50']:.1f} ms, p95 {latency['p95']:.1f} ms)"
        return text


def compare_in_shadow(
    service: str, predictions: PredictionLog, *, since: datetime, until: datetime | None = None
) -> list[ShadowComparison]:
    """Every challenger that answered in shadow in ``[since, until)``, newest version first."""
    rows = predictions.shadow_rows(service, since=since, until=until, limit=MAX_SHADOW_ROWS)
    by_version: dict[str, list[LoggedRequest]] = {}
    for row in rows:
        by_version.setdefault(row.version, []).append(row)
    compared = [_compare(service, version, group, predictions) for version, group in by_version.items()]
    return sorted(compared, key=lambda c: (len(c.version), c.version), reverse=True)


def _compare(service: str, version: str, rows: list[LoggedRequest], predictions: PredictionLog) -> ShadowComparison:
    comparison = ShadowComparison(version)
    shadowed = [p for row in rows if row.outcome is None for p in row.predictions()]
    wanted = [p.shadow_of for p in shadowed if p.shadow_of] + [row.shadow_of for row in rows if row.shadow_of]
    champion = predictions.lookup(service, wanted)
    for row in rows:
        comparison.outcomes[row.outcome or "ok"] += 1
    comparison.latency_ms = percentiles([r.latency_ms for r in rows if r.outcome is None and r.latency_ms is not None])
    answered = [champion[r.shadow_of] for r in rows if r.shadow_of in champion]
    comparison.champion_latency_ms = percentiles([p.latency_ms for p in answered if p.latency_ms is not None])
    comparison.champions = {p.version for p in answered}
    pairs = [(champion[p.shadow_of], p) for p in shadowed if p.shadow_of in champion]
    comparison.compared = len(pairs)
    comparison.agreed = sum(1 for mine, theirs in pairs if outputs_agree(mine.output, theirs.output))
    return comparison
