"""Quality gates of a retrain: each raises QualityGateError with what to do about it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlseam.errors import ModelOutputError, QualityGateError
from mlseam.runtime.probabilities import predict_probabilities
from mlseam.tasks import Examples, TaskKind


def check_enough_examples(count: int, minimum: int) -> None:
    """Refuse to train on fewer than ``minimum`` valid examples."""
    if count < minimum:
        raise QualityGateError(
            f"too few examples: {count} valid, min_examples is {minimum}; add labelled examples "
            "(POST /<service>/v1/examples or mlseam seed) or lower min_examples in service.yaml"
        )


def check_both_sides(train: int, holdout: int) -> None:
    """Refuse a split with an empty train or holdout side."""
    if train == 0 or holdout == 0:
        raise QualityGateError(
            f"the holdout split left {train} train and {holdout} holdout rows; add examples "
            "or change holdout_fraction in service.yaml"
        )


def check_label_variety(labels: np.ndarray) -> None:
    """Refuse to fit a classifier on a single label class."""
    classes = np.unique(labels)
    if classes.size < 2:
        only = classes[0] if classes.size else "none"
        raise QualityGateError(f"a single label class ({only!s}) in the training data; a classifier needs at least two")


def check_metrics(raw: object, primary: str, *, who: str) -> dict[str, float]:
    """``evaluate``'s result as finite floats, with the primary metric present."""
    if not isinstance(raw, Mapping):
        raise QualityGateError(f"{who} evaluate returned {type(raw).__name__}; return a dict of metric -> number")
    metrics: dict[str, float] = {}
    for name, value in raw.items():
        try:
            metrics[str(name)] = float(value)
        except (TypeError, ValueError):
            raise QualityGateError(f"{who} metric {name!s} is {value!r}, not a number") from None
    if primary not in metrics:
        raise QualityGateError(
            f"{who} metrics lack the primary metric {primary!r} (got {', '.join(metrics) or 'none'}); "
            "make evaluate return it"
        )
    bad = [name for name, value in metrics.items() if not math.isfinite(value)]
    if bad:
        raise QualityGateError(f"{who} metric(s) {', '.join(bad)} are NaN or infinite; the candidate is refused")
    return metrics


def check_served_labels(model: Any, holdout: Examples[Any], kind: TaskKind[Any, Any]) -> None:
    """Refuse a classifier whose ``predict`` disagrees with the labels its ``predict_proba`` serves.

    The API answers each input's most probable label; ``evaluate`` scores ``predict``. If the two
    differ, the metrics that won promotion would not describe what is served.
    """
    if not kind.has_probabilities or len(holdout) == 0:
        return
    try:
        probabilities = predict_probabilities(model, holdout.inputs, len(holdout))
        if probabilities is None:
            return
        predicted = [
            kind.validate_output(value, index=i)
            for i, value in enumerate(kind.output_items(model.predict(holdout.inputs), len(holdout)))
        ]
    except ModelOutputError as exc:
        raise QualityGateError(f"candidate predictions are unusable: {exc}") from None
    served = probabilities.labels()
    differ = [i for i, (a, b) in enumerate(zip(predicted, served, strict=True)) if a != b]
    if differ:
        first = differ[0]
        raise QualityGateError(
            f"predict and predict_proba disagree on {len(differ)} of {len(holdout)} holdout rows "
            f"(first: predict says {predicted[first]!r}, the most probable class is {served[first]!r}); "
            "the API answers the most probable class, so make predict return it or drop predict_proba"
        )
    unusable = int((~probabilities.finite).sum())
    if unusable:
        raise QualityGateError(
            f"predict_proba gave non-finite probabilities for {unusable} of {len(holdout)} holdout rows"
        )


def refuse_failed_step(step: str, exc: Exception) -> QualityGateError:
    """The candidate's own exception in ``fit`` or ``evaluate`` as a one-line refusal.

    Model code meeting data it cannot handle (an overflow, a NaN it made itself) is the
    candidate's failure, not the platform's: it is refused, and the champion stays as it is.
    """
    lines = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return QualityGateError(f"candidate {step} raised {detail}; the candidate is refused")


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """``macro_f1=0.9721 accuracy=0.9722``."""
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
