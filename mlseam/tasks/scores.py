"""Per-row counts behind a metric, so a holdout can be resampled without running the model again.

Every common metric is a function of sums over rows: accuracy of (correct, 1), RMSE of
(squared error, 1), a character error rate of (edits, characters), macro-F1 of each class's
(true positive, false positive, false negative). ``RowScores`` holds those per-row counts and the
function that turns their sums into the metric; resampling the rows is then one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein

from mlseam.tasks.boxes import match_images

Combine = Callable[[np.ndarray], np.ndarray]
"""Summed counts of shape (m, k) to the metric's m values."""


@dataclass(frozen=True)
class RowScores:
    """``counts[i]`` is row ``i``'s share of the metric's sums; ``combine`` turns sums into the metric.

    Build one with ``RowScores.mean(values)`` (a metric that is the mean of a per-row value),
    ``RowScores.ratio(numerators, denominators)`` (a ratio of two sums, like a character error
    rate), or directly for anything else a function of sums can express.
    """

    counts: np.ndarray
    combine: Combine

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.float64)
        if counts.ndim == 1:
            counts = counts[:, None]
        if counts.ndim != 2:
            raise ValueError(f"counts must be one row of numbers per example, got shape {counts.shape}")
        object.__setattr__(self, "counts", counts)

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @classmethod
    def mean(cls, values: Any) -> RowScores:
        """The metric is the mean of one value per row (1.0 for a correct row and 0.0 otherwise, say)."""
        values = np.asarray(values, dtype=np.float64).ravel()
        return cls.ratio(values, np.ones_like(values))

    @classmethod
    def ratio(cls, numerators: Any, denominators: Any) -> RowScores:
        """The metric is ``sum(numerators) / sum(denominators)`` over the rows."""
        counts = np.column_stack(
            [np.asarray(numerators, dtype=np.float64).ravel(), np.asarray(denominators, dtype=np.float64).ravel()]
        )
        return cls(counts, _ratio)

    def value(self) -> float:
        """The metric over every row."""
        return float(self.combine(self.counts.sum(axis=0, keepdims=True))[0])

    def resampled(self, weights: np.ndarray) -> np.ndarray:
        """The metric under each row of ``weights`` (m, rows): how often each row is drawn."""
        return np.asarray(self.combine(weights @ self.counts), dtype=np.float64)


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sums[:, 1] > 0, sums[:, 0] / np.where(sums[:, 1] > 0, sums[:, 1], 1.0), np.nan)


def _root_ratio(sums: np.ndarray) -> np.ndarray:
    root: np.ndarray = np.sqrt(_ratio(sums))
    return root


def _r2(sums: np.ndarray) -> np.ndarray:
    # columns: y, y squared, squared error, 1; r2 = 1 - SSE / total sum of squares
    total = sums[:, 1] - sums[:, 0] ** 2 / np.maximum(sums[:, 3], 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - sums[:, 2] / np.where(total > 0, total, 1.0), np.nan)


def _macro_f1(sums: np.ndarray) -> np.ndarray:
    # columns: each class's true positives, then false positives, then false negatives
    tp, fp, fn = np.split(sums, 3, axis=1)
    seen = (tp + fp + fn) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(seen, 2 * tp / np.where(seen, 2 * tp + fp + fn, 1.0), 0.0)
    # like scikit-learn: the mean over the classes present in the labels or the predictions
    mean: np.ndarray = f1.sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
    return mean


def classification_scores(metric: str, labels: np.ndarray, predictions: Sequence[Any]) -> RowScores | None:
    """Row counts of ``accuracy`` or ``macro_f1`` (scikit-learn's definitions); None for other metrics."""
    truth = np.asarray(labels).astype(str)
    predicted = np.asarray([str(p) for p in predictions], dtype=str).reshape(truth.shape)
    if metric == "accuracy":
        return RowScores.mean(truth == predicted)
    if metric == "macro_f1":
        classes = np.unique(np.concatenate([truth, predicted]))
        is_true = truth[:, None] == classes[None, :]
        is_predicted = predicted[:, None] == classes[None, :]
        counts = np.hstack([is_true & is_predicted, ~is_true & is_predicted, is_true & ~is_predicted])
        return RowScores(counts, _macro_f1)
    return None


def regression_scores(metric: str, labels: np.ndarray, predictions: Sequence[Any]) -> RowScores | None:
    """Row counts of ``rmse``, ``mse``, ``mae`` or ``r2``; None for other metrics."""
    truth = np.asarray(labels, dtype=np.float64).ravel()
    error = np.asarray(predictions, dtype=np.float64).ravel() - truth
    ones = np.ones_like(truth)
    if metric in ("rmse", "mse"):
        return RowScores(np.column_stack([error**2, ones]), _root_ratio if metric == "rmse" else _ratio)
    if metric == "mae":
        return RowScores.mean(np.abs(error))
    if metric == "r2":
        return RowScores(np.column_stack([truth, truth**2, error**2, ones]), _r2)
    return None


def text_scores(metric: str, labels: np.ndarray, predictions: Sequence[Any]) -> RowScores | None:
    """Row counts of ``cer`` (edits per character of the labels), ``wer`` or ``accuracy``; None otherwise."""
    truth = [str(label) for label in labels]
    read = [str(text) for text in predictions]
    if metric == "cer":
        edits = [Levenshtein.distance(t, r) for t, r in zip(truth, read, strict=True)]
        return RowScores.ratio(edits, [len(t) for t in truth])
    if metric == "wer":
        edits = [Levenshtein.distance(t.split(), r.split()) for t, r in zip(truth, read, strict=True)]
        return RowScores.ratio(edits, [len(t.split()) for t in truth])
    if metric in ("accuracy", "exact_match"):
        return RowScores.mean([t == r for t, r in zip(truth, read, strict=True)])
    return None


def _detection(metric: str) -> Combine:
    def combine(sums: np.ndarray) -> np.ndarray:
        # columns: matched, predicted and true boxes; nothing predicted where nothing was true is perfect
        matched, predicted, true = sums[:, 0], sums[:, 1], sums[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            if metric == "precision":
                return np.where(predicted > 0, matched / np.maximum(predicted, 1), np.where(true > 0, 0.0, 1.0))
            if metric == "recall":
                return np.where(true > 0, matched / np.maximum(true, 1), np.where(predicted > 0, 0.0, 1.0))
            total = predicted + true
            return np.where(total > 0, 2 * matched / np.maximum(total, 1), 1.0)

    return combine


def detection_scores(metric: str, labels: np.ndarray, predictions: Sequence[Any]) -> RowScores | None:
    """Row counts of ``f1``, ``precision`` or ``recall`` of boxes matched at IoU >= 0.5; None otherwise."""
    if metric not in ("f1", "precision", "recall"):
        return None
    return RowScores(match_images(list(labels), list(predictions)), _detection(metric))


Scorer = Callable[[str, np.ndarray, Sequence[Any]], RowScores | None]

SCORERS: dict[str, Scorer] = {
    "image_classification": classification_scores,
    "tabular_classification": classification_scores,
    "tabular_regression": regression_scores,
    "ocr": text_scores,
    "text_detection": detection_scores,
}
"""Each task kind's scorer of the metrics it knows by name (``TaskKind.row_scores``)."""
