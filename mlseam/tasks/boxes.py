"""Scoring text boxes: IoU, one-to-one matching at an IoU threshold, and F1 / precision / recall.

A box is ``{"x", "y", "width", "height"}`` (x and y its top-left column and row, as the
``text_detection`` kind's labels and outputs hold it), optionally with a ``score``, or a row
``[x, y, width, height]`` (``[..., score]``) of an array. Predicted boxes are matched greedily,
most confident first (the ICDAR / PASCAL VOC way), each to the unmatched true box it overlaps most,
when their IoU reaches the threshold; a true box is matched at most once, so duplicates count as
false positives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IOU_THRESHOLD = 0.5
"""A prediction matches a true box when their intersection over union reaches this."""

_KEYS = ("x", "y", "width", "height")


def box_array(boxes: Any) -> np.ndarray:
    """Boxes (dicts or rows) as a float array of shape (n, 5): x, y, width, height, score.

    A box without a score gets 1.0; an empty input gives shape (0, 5).
    """
    if isinstance(boxes, np.ndarray):
        rows = boxes.astype(np.float64).reshape(-1, boxes.shape[-1] if boxes.ndim > 1 else 4)
    else:
        rows = np.asarray([_box_row(box) for box in boxes], dtype=np.float64).reshape(-1, 5)
    if rows.shape[1] == 4:
        rows = np.hstack([rows, np.ones((rows.shape[0], 1))])
    if rows.shape[1] != 5:
        raise ValueError(f"boxes have {rows.shape[1]} columns; give x, y, width, height and optionally score")
    return rows


def _box_row(box: Any) -> list[float]:
    if isinstance(box, Mapping):
        return [float(box[key]) for key in _KEYS] + [float(box.get("score", 1.0))]
    row = [float(value) for value in box]
    return row + [1.0] * (5 - len(row)) if len(row) == 4 else row


def iou(first: Any, second: Any) -> np.ndarray:
    """The intersection over union of every box of ``first`` with every box of ``second`` (n x m).

    Boxes cover whole pixels: ``x`` to ``x + width`` (exclusive), so boxes that only touch share nothing.
    """
    a, b = box_array(first), box_array(second)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    overlap: np.ndarray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return overlap


@dataclass(frozen=True)
class MatchCounts:
    """One image's matching: how many predictions matched a true box, of how many each."""

    matched: int
    predicted: int
    true: int


def match_boxes(truth: Any, predicted: Any, threshold: float = IOU_THRESHOLD) -> MatchCounts:
    """``predicted`` matched one-to-one to ``truth``, most confident prediction first."""
    true_rows, predicted_rows = box_array(truth), box_array(predicted)
    if not len(true_rows) or not len(predicted_rows):
        return MatchCounts(0, len(predicted_rows), len(true_rows))
    overlaps = iou(predicted_rows, true_rows)
    free = np.ones(len(true_rows), dtype=bool)
    matched = 0
    # Stable sort: equally confident predictions keep their order, so the result is deterministic.
    for p in np.argsort(-predicted_rows[:, 4], kind="stable"):
        candidates = np.where(free, overlaps[p], -1.0)
        best = int(np.argmax(candidates))
        if candidates[best] >= threshold:
            free[best] = False
            matched += 1
    return MatchCounts(matched, len(predicted_rows), len(true_rows))


def match_images(truths: Iterable[Any], predictions: Iterable[Any], threshold: float = IOU_THRESHOLD) -> np.ndarray:
    """Per image, (matched, predicted, true) as an int array of shape (n_images, 3): what resampling needs."""
    counts = [
        (c.matched, c.predicted, c.true)
        for c in (match_boxes(t, p, threshold) for t, p in zip(truths, predictions, strict=True))
    ]
    return np.asarray(counts, dtype=np.int64).reshape(-1, 3)


def scores_from_counts(counts: np.ndarray) -> dict[str, float]:
    """F1, precision and recall of summed per-image counts (see ``match_images``).

    No prediction and no true box at all is perfect (1.0 each): there was nothing to find.
    """
    matched, predicted, true = (int(total) for total in np.asarray(counts).reshape(-1, 3).sum(axis=0))
    precision = matched / predicted if predicted else (1.0 if not true else 0.0)
    recall = matched / true if true else (1.0 if not predicted else 0.0)
    f1 = 2 * matched / (predicted + true) if predicted + true else 1.0
    return {"f1": f1, "precision": precision, "recall": recall}


def detection_scores(
    truths: Sequence[Any], predictions: Sequence[Any], threshold: float = IOU_THRESHOLD
) -> dict[str, float]:
    """F1, precision and recall of boxes over a set of images, matched one-to-one at ``threshold`` IoU."""
    return scores_from_counts(match_images(truths, predictions, threshold))
