"""The holdout rule: row scores reproduce ``evaluate``; a holdout too small to tell a gain from noise is named."""

from __future__ import annotations

import math

import numpy as np

from mlseam.conformance.outcome import RuleFailure, RuleWarning
from mlseam.conformance.subject import Subject
from mlseam.training.noise import CONFIDENCE, draw_weights, holdout_row_scores

TINY_HOLDOUT = 100
"""Holdout rows below which ``mlseam check`` warns: one row then moves accuracy by over 1%."""

_RESAMPLES = 1000
_Z = {0.9: 1.645, 0.95: 1.96, 0.99: 2.576}[CONFIDENCE]


def holdout_tells_gains_from_noise(subject: Subject) -> None:
    """``row_scores`` agrees with ``evaluate``; a tiny holdout gets a warning naming the smallest gain it can detect."""
    service, model, sample = subject.fitted()
    primary = service.model_class.primary_metric
    assert subject.metrics is not None  # noqa: S101 - needs "evaluate returns finite metrics"
    scores, why = holdout_row_scores(model, sample.holdout, subject.metrics[primary])
    if scores is None:
        if why.startswith("no per-row scores"):
            raise RuleWarning(
                f"{why}, such as `return mlseam.RowScores.mean(per_example_values)`; until then a retrain "
                "promotes on evaluate's numbers alone, and one lucky holdout row can decide"
            )
        raise RuleFailure(f"{why} (the platform resamples the holdout with row_scores to test a gain)")
    fraction = service.manifest.holdout_fraction
    expected_rows = max(1, round(sample.seed_rows * fraction))
    if expected_rows >= TINY_HOLDOUT:
        return
    where = (
        f"the holdout will have about {expected_rows} rows (holdout_fraction {fraction} of the "
        f"{sample.seed_rows} demo examples)"
    )
    fix = "add examples or raise holdout_fraction"
    # The metric's bootstrap spread on the check's holdout, scaled to the service's holdout size.
    rng = np.random.default_rng(0)
    spread = scores.resampled(draw_weights(len(scores), _RESAMPLES, rng))
    spread = spread[np.isfinite(spread)]
    error = float(np.std(spread)) * math.sqrt(len(scores) / expected_rows) if spread.size > 1 else 0.0
    if error == 0:
        raise RuleWarning(
            f"{where}: the model scores the same on every resample of the check's holdout, so its noise is not "
            f"measured here, but one example in {expected_rows} weighs {1 / expected_rows:.3g} of a rate such as "
            f"accuracy, and a gain of a few examples will not be told from noise; {fix}"
        )
    # A gain's spread is about one model's when the two models' errors are moderately correlated
    # (sqrt(2 * (1 - 0.5)) = 1), as a candidate's and its champion's usually are.
    raise RuleWarning(
        f"{where}: it can tell only a {primary} gain of about {_Z * error:.3g} or more from noise, so smaller "
        f"gains will usually not be promoted; {fix}"
    )
