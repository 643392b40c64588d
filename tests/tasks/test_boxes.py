"""Box scoring: IoU on hand-computed cases, one-to-one matching, and F1 / precision / recall over images."""

from __future__ import annotations

import numpy as np
import pytest

from mlseam.tasks.boxes import (
    MatchCounts,
    box_array,
    detection_scores,
    iou,
    match_boxes,
    match_images,
    scores_from_counts,
)


def box(x: int, y: int, width: int, height: int, score: float | None = None) -> dict[str, float]:
    found: dict[str, float] = {"x": x, "y": y, "width": width, "height": height}
    return found if score is None else {**found, "score": score}


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (box(0, 0, 10, 10), box(0, 0, 10, 10), 1.0),  # the same box
        (box(0, 0, 10, 10), box(5, 0, 10, 10), 50 / 150),  # half of each overlaps
        (box(0, 0, 10, 10), box(5, 5, 10, 10), 25 / 175),  # a corner overlaps
        (box(0, 0, 10, 10), box(10, 0, 10, 10), 0.0),  # touching edges share no pixel
        (box(0, 0, 10, 10), box(20, 20, 5, 5), 0.0),  # apart
        (box(0, 0, 10, 10), box(2, 2, 5, 5), 25 / 100),  # contained
        (box(0, 0, 4, 2), box(0, 0, 2, 4), 4 / 12),  # crossing
    ],
)
def test_iou_matches_hand_computed_areas(first: dict[str, float], second: dict[str, float], expected: float) -> None:
    assert iou([first], [second])[0, 0] == pytest.approx(expected)
    assert iou([second], [first])[0, 0] == pytest.approx(expected)


def test_iou_compares_every_box_with_every_other_and_accepts_rows() -> None:
    overlaps = iou(
        np.array([[0, 0, 10, 10], [5, 0, 10, 10]]), [box(0, 0, 10, 10), box(100, 100, 1, 1), box(5, 0, 10, 10)]
    )
    assert overlaps.shape == (2, 3)
    assert overlaps.round(4).tolist() == [[1.0, 0.0, round(1 / 3, 4)], [round(1 / 3, 4), 0.0, 1.0]]
    assert iou([], [box(0, 0, 1, 1)]).shape == (0, 1)


def test_box_array_gives_boxes_without_a_score_full_confidence() -> None:
    assert box_array([box(1, 2, 3, 4)]).tolist() == [[1, 2, 3, 4, 1.0]]
    assert box_array([box(1, 2, 3, 4, 0.25)]).tolist() == [[1, 2, 3, 4, 0.25]]
    assert box_array([]).shape == (0, 5)
    with pytest.raises(ValueError, match="columns"):
        box_array(np.zeros((2, 3)))


def test_a_true_box_is_matched_once_so_a_duplicate_prediction_is_a_false_positive() -> None:
    truth = [box(0, 0, 10, 10)]
    counts = match_boxes(truth, [box(0, 0, 10, 10, 0.9), box(1, 0, 10, 10, 0.8)])
    assert (counts.matched, counts.predicted, counts.true) == (1, 2, 1)


def test_the_most_confident_prediction_is_matched_first() -> None:
    # Both predictions overlap the one true box enough; the confident one takes it, even listed last.
    truth = [box(0, 0, 10, 10)]
    weak, strong = box(0, 0, 10, 10, 0.1), box(2, 0, 10, 10, 0.9)
    assert match_boxes(truth, [weak, strong]).matched == 1
    # Each prediction takes the free true box it overlaps most, so two true boxes get two matches.
    two = [box(0, 0, 10, 10), box(3, 0, 10, 10)]
    assert match_boxes(two, [box(0, 0, 10, 10, 0.9), box(3, 0, 10, 10, 0.8)]).matched == 2


def test_an_overlap_below_the_threshold_does_not_match_and_the_threshold_is_inclusive() -> None:
    truth = [box(0, 0, 10, 10)]
    assert match_boxes(truth, [box(5, 0, 10, 10)]).matched == 0  # IoU 1/3
    assert match_boxes(truth, [box(5, 0, 10, 10)], threshold=1 / 3).matched == 1
    assert match_boxes(truth, [box(0, 0, 10, 5)]).matched == 1  # IoU exactly 0.5


def test_empty_sets_count_what_they_have() -> None:
    assert match_boxes([], []) == MatchCounts(0, 0, 0)
    assert (match_boxes([], [box(0, 0, 1, 1)]).predicted, match_boxes([box(0, 0, 1, 1)], []).true) == (1, 1)


def test_scores_sum_counts_over_images() -> None:
    truths = [[box(0, 0, 10, 10), box(20, 0, 10, 10)], [box(0, 0, 5, 5)], []]
    predictions = [[box(0, 0, 10, 10, 0.9)], [box(0, 0, 5, 5, 0.8), box(40, 40, 5, 5, 0.7)], [box(1, 1, 1, 1, 0.6)]]
    assert match_images(truths, predictions).tolist() == [[1, 1, 2], [1, 2, 1], [0, 1, 0]]
    scores = detection_scores(truths, predictions)
    # 2 matched of 4 predicted and of 3 true boxes.
    assert scores == pytest.approx({"precision": 2 / 4, "recall": 2 / 3, "f1": 2 * 2 / (4 + 3)})


def test_images_with_no_true_and_no_predicted_boxes_are_perfect() -> None:
    assert detection_scores([[], []], [[], []]) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}
    assert scores_from_counts(np.zeros((0, 3))) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_finding_nothing_where_there_is_text_scores_zero() -> None:
    assert detection_scores([[box(0, 0, 3, 3)]], [[]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert detection_scores([[]], [[box(0, 0, 3, 3, 0.5)]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
