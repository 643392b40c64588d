"""Comparing a window of live inputs or outputs with a reference profile: PSI per statistic, one verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlseam.drift.build import profile_window
from mlseam.drift.profile import Profile
from mlseam.drift.psi import DriftVerdict, psi
from mlseam.errors import InvalidInputError

TOP_DRIFTING = 3
"""How many of the most drifting statistics a report names."""


@dataclass(frozen=True)
class StatisticDrift:
    """One statistic's PSI against the reference, and its verdict."""

    name: str
    psi: float
    verdict: DriftVerdict


@dataclass(frozen=True)
class DriftReport:
    """How a window moved from the reference: every statistic, most drifting first, and the worst verdict."""

    kind: str
    side: str
    reference_count: int
    window_count: int
    statistics: tuple[StatisticDrift, ...]

    @property
    def verdict(self) -> DriftVerdict:
        """The verdict of the most drifting statistic: one drifted feature is a drifted window."""
        return self.statistics[0].verdict if self.statistics else DriftVerdict.STABLE

    @property
    def top(self) -> list[str]:
        """The names of up to ``TOP_DRIFTING`` statistics that are not stable, most drifting first."""
        return [s.name for s in self.statistics if s.verdict is not DriftVerdict.STABLE][:TOP_DRIFTING]

    @property
    def summary(self) -> str:
        """One line for ``mlseam status``: ``inputs drifted: bmi PSI 1.92, s5 PSI 0.31 (2,000 vs 353)``."""
        sizes = f"({self.window_count:,} vs {self.reference_count:,} in the reference)"
        if not self.statistics:
            return f"{self.side} {self.verdict.value}: nothing measured {sizes}"
        named = [s for s in self.statistics if s.name in self.top] or [self.statistics[0]]
        worst = ", ".join(f"{s.name} PSI {s.psi:.2f}" for s in named)
        label = "largest " if self.verdict is DriftVerdict.STABLE else ""
        return f"{self.side} {self.verdict.value}: {label}{worst} {sizes}"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON types."""
        return {
            "kind": self.kind,
            "side": self.side,
            "verdict": self.verdict.value,
            "reference_count": self.reference_count,
            "window_count": self.window_count,
            "top": self.top,
            "summary": self.summary,
            "statistics": [{"name": s.name, "psi": s.psi, "verdict": s.verdict.value} for s in self.statistics],
        }


def compare(reference: Profile, window: Profile | Any) -> DriftReport:
    """The PSI of every statistic of ``window`` against ``reference``, most drifting first.

    ``window`` is a profile made by ``profile_window(reference, ...)`` or the raw data to make it
    from: inputs as the model sees them (or the API's JSON inputs), or outputs, matching
    ``reference.side``. An empty window is InvalidInputError: there is nothing to judge.
    """
    if not isinstance(window, Profile):
        window = profile_window(reference, window)
    if (window.kind, window.side) != (reference.kind, reference.side):
        raise InvalidInputError(
            f"cannot compare {window.kind} {window.side} with a reference of {reference.kind} {reference.side}"
        )
    if window.count == 0:
        raise InvalidInputError(f"the window holds no {window.side}: there is nothing to compare")
    missing = sorted(set(reference.statistics) - set(window.statistics))
    if missing:
        raise InvalidInputError(f"the window lacks the statistics {', '.join(missing)} of the reference")
    drifts = [
        StatisticDrift(name, value, DriftVerdict.of(value))
        for name, stat in reference.statistics.items()
        for value in [psi(stat, window.statistics[name])]
    ]
    drifts.sort(key=lambda d: -d.psi)
    return DriftReport(reference.kind, reference.side, reference.count, window.count, tuple(drifts))
