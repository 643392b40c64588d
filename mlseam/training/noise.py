"""Whether a candidate's gain over the champion is larger than the noise of the holdout they share.

A paired bootstrap: the holdout rows are drawn with replacement many times, the same draws for
both models, and the primary metric's difference is recomputed on each draw from the models'
per-row counts (``Model.row_scores``). The middle 95% of those differences is the interval a
gain must clear. The draws are seeded from the holdout's digest, so a retrain is reproducible.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlseam.contract import Model
from mlseam.registry import ModelVersion
from mlseam.tasks import Examples
from mlseam.tasks.scores import RowScores

log = logging.getLogger("mlseam.retrain")

RESAMPLES = 2000
"""Bootstrap draws; the interval's ends move by well under a tenth of its width between seeds."""

MIN_RESAMPLES = 400
_CELLS_BUDGET = 40_000_000
"""Row draws one comparison may make: a holdout of over 20,000 rows gets fewer resamples (never
under MIN_RESAMPLES), which its narrow interval can afford; about 3 s at 100,000 rows."""

CONFIDENCE = 0.95

_CELLS_PER_CHUNK = 4_000_000
"""Draw weights are made this many at a time, so a large holdout costs bounded memory."""


@dataclass(frozen=True)
class Gain:
    """The candidate's primary metric minus the champion's on one holdout, with its 95% interval."""

    delta: float
    low: float
    high: float
    rows: int

    def beyond_noise(self, higher_is_better: bool) -> bool:
        """Whether the whole interval lies on the better side of zero."""
        return self.low > 0 if higher_is_better else self.high < 0

    def describe(self) -> str:
        """``+0.055, 95% interval +0.031..+0.080``."""
        return f"{_signed(self.delta)}, {CONFIDENCE:.0%} interval {_signed(self.low)}..{_signed(self.high)}"

    def as_record(self) -> dict[str, float]:
        """The figures a version records (all finite)."""
        return {"delta": self.delta, "low": self.low, "high": self.high, "rows": float(self.rows)}


def _signed(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:+.3g}" if abs(value) >= 1e-3 else f"{value:+.2e}"


def bootstrap_seed(holdout_digest: str) -> int:
    """A seed that depends only on which rows the holdout holds."""
    return int(holdout_digest[:16] or "0", 16)


def draw_weights(rows: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``resamples`` x ``rows`` counts: how often each row is drawn in each resample of ``rows`` draws."""
    return rng.multinomial(rows, np.full(rows, 1.0 / rows), size=resamples).astype(np.float64)


def paired_gain(candidate: RowScores, champion: RowScores, seed: int, resamples: int = RESAMPLES) -> Gain:
    """The candidate's gain and its bootstrap interval; both scores are of the same holdout rows."""
    rows = len(candidate)
    if len(champion) != rows or rows == 0:
        raise ValueError(f"row scores of {rows} and {len(champion)} rows cannot be paired")
    rng = np.random.default_rng(seed)
    resamples = max(MIN_RESAMPLES, min(resamples, _CELLS_BUDGET // rows))
    chunk = max(1, min(resamples, _CELLS_PER_CHUNK // rows))
    differences: list[np.ndarray] = []
    for start in range(0, resamples, chunk):
        weights = draw_weights(rows, min(chunk, resamples - start), rng)
        differences.append(candidate.resampled(weights) - champion.resampled(weights))
    spread = np.concatenate(differences)
    spread = spread[np.isfinite(spread)]
    delta = candidate.value() - champion.value()
    if spread.size < resamples // 2:
        return Gain(delta=delta, low=-math.inf, high=math.inf, rows=rows)  # mostly undefined: no evidence
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Gain(delta=delta, low=float(low), high=float(high), rows=rows)


def holdout_row_scores(model: Model, holdout: Examples[Any], expected: float) -> tuple[RowScores | None, str]:
    """``model``'s row scores on ``holdout``, or None and why they cannot be used.

    They must reproduce ``evaluate``'s primary metric (``expected``): resampling counts that
    measure something else would test the wrong thing.
    """
    primary = model.primary_metric
    try:
        scores = model.row_scores(holdout)
    except Exception as exc:  # the model's own code: reported, and the comparison falls back
        log.warning("row_scores raised: %s", exc, exc_info=True)
        return None, f"row_scores raised {type(exc).__name__}: {exc}"
    if scores is None:
        return None, f"no per-row scores for {primary}: define row_scores in the model"
    if not isinstance(scores, RowScores) or len(scores) != len(holdout):
        return None, f"row_scores must return mlseam.RowScores with one row per example ({len(holdout)})"
    value = scores.value()
    if not math.isclose(value, expected, rel_tol=1e-6, abs_tol=1e-9):
        return None, f"row_scores gives {primary} {value:.6g} but evaluate gives {expected:.6g}; make them agree"
    return scores, ""


def measure_gain(
    record: ModelVersion, candidate: Model, champion: Model, holdout: Examples[Any]
) -> tuple[Gain | None, str]:
    """The candidate's gain with its interval (recorded in ``record.gain``), or None and why it cannot be measured."""
    assert record.champion_metrics is not None  # noqa: S101 - the champion was evaluated
    primary = record.primary_metric
    started = time.perf_counter()
    ours, why = holdout_row_scores(candidate, holdout, record.metrics[primary])
    if ours is None:
        return None, f"candidate's {why}"
    theirs, why = holdout_row_scores(champion, holdout, record.champion_metrics[primary])
    if theirs is None:
        return None, f"champion's {why}"
    gain = paired_gain(ours, theirs, bootstrap_seed(record.holdout_digest))
    record.timings["gain_s"] = round(time.perf_counter() - started, 3)
    if not (math.isfinite(gain.low) and math.isfinite(gain.high)):
        return None, f"{primary} is undefined on most resamples of this holdout"
    record.gain = gain.as_record()
    log.info("%s: gain over the champion %s on %d rows", record.service, gain.describe(), gain.rows)
    return gain, ""
