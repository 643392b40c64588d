"""The paired bootstrap that tells a candidate's real gain from the noise of a small holdout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error, r2_score

import mlseam
from mlseam.registry import Champion, ModelVersion, Status
from mlseam.tasks import Examples
from mlseam.tasks.scores import RowScores, classification_scores, regression_scores, text_scores
from mlseam.training.decision import judge_candidate
from mlseam.training.noise import Gain, bootstrap_seed, holdout_row_scores, paired_gain

RNG = np.random.default_rng(7)


def _labels(rows: int, classes: int = 3) -> np.ndarray:
    return RNG.integers(0, classes, rows).astype(str)


def _right_on(truth: np.ndarray, rows: int) -> list[str]:
    """Predictions right on the first ``rows`` rows and wrong (an unseen label) on the others."""
    return [label if i < rows else "wrong" for i, label in enumerate(truth)]


@pytest.mark.parametrize("seed", range(5))
def test_the_defaults_reproduce_scikit_learns_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, 200).astype(str)
    predicted = np.where(rng.random(200) < 0.7, truth, rng.integers(0, 5, 200).astype(str))  # "4" never true
    assert classification_scores("macro_f1", truth, list(predicted)).value() == pytest.approx(  # type: ignore[union-attr]
        f1_score(truth, predicted, average="macro"), abs=1e-12
    )
    assert classification_scores("accuracy", truth, list(predicted)).value() == pytest.approx(  # type: ignore[union-attr]
        accuracy_score(truth, predicted)
    )
    y = rng.normal(size=150)
    guess = y + rng.normal(scale=0.5, size=150)
    expected = {
        "rmse": mean_squared_error(y, guess) ** 0.5,
        "mse": mean_squared_error(y, guess),
        "mae": mean_absolute_error(y, guess),
        "r2": r2_score(y, guess),
    }
    for metric, value in expected.items():
        assert regression_scores(metric, y, list(guess)).value() == pytest.approx(value, abs=1e-12)  # type: ignore[union-attr]


def test_text_metrics_count_edits_per_character_and_per_word() -> None:
    truth = np.asarray(["1250", "99", "a b c"], dtype=object)
    read = ["125", "98", "a c"]
    assert text_scores("cer", truth, read).value() == pytest.approx((1 + 1 + 2) / (4 + 2 + 5))  # type: ignore[union-attr]
    assert text_scores("wer", truth, read).value() == pytest.approx((1 + 1 + 1) / (1 + 1 + 3))  # type: ignore[union-attr]
    assert text_scores("accuracy", truth, read).value() == 0.0  # type: ignore[union-attr]
    assert text_scores("bleu", truth, read) is None


def test_one_lucky_row_of_a_34_row_holdout_is_within_the_noise() -> None:
    truth = _labels(34)
    gain = paired_gain(
        classification_scores("accuracy", truth, _right_on(truth, 31)),  # type: ignore[arg-type]
        classification_scores("accuracy", truth, _right_on(truth, 30)),  # type: ignore[arg-type]
        seed=bootstrap_seed("ab" * 32),
    )
    assert gain.delta == pytest.approx(1 / 34)
    assert gain.low <= 0 < gain.high and not gain.beyond_noise(higher_is_better=True)


def test_a_real_improvement_on_426_rows_is_beyond_the_noise() -> None:
    truth = _labels(426, classes=10)
    better, worse = _right_on(truth, 417), _right_on(truth, 393)  # macro_f1 about 0.98 vs 0.92
    gain = paired_gain(
        classification_scores("macro_f1", truth, better),  # type: ignore[arg-type]
        classification_scores("macro_f1", truth, worse),  # type: ignore[arg-type]
        seed=1,
    )
    assert 0 < gain.low < gain.delta < gain.high and gain.beyond_noise(higher_is_better=True)
    assert gain.describe().startswith(f"{gain.delta:+.3g}, 95% interval +")


def test_the_interval_is_reproducible_from_the_seed_and_stable_across_seeds() -> None:
    truth = _labels(300)
    a = classification_scores("accuracy", truth, _right_on(truth, 270))
    b = classification_scores("accuracy", truth, _right_on(truth, 255))
    assert a is not None and b is not None
    first, again = paired_gain(a, b, seed=5), paired_gain(a, b, seed=5)
    assert first == again
    other = paired_gain(a, b, seed=6)
    width = first.high - first.low
    assert abs(other.low - first.low) < 0.15 * width and abs(other.high - first.high) < 0.15 * width


def test_two_models_that_predict_the_same_show_no_gain() -> None:
    truth = _labels(100)
    same = classification_scores("accuracy", truth, _right_on(truth, 80))
    assert same is not None
    gain = paired_gain(same, same, seed=3)
    assert gain.delta == gain.low == gain.high == 0 and not gain.beyond_noise(higher_is_better=True)
    assert gain.describe() == "0, 95% interval 0..0"


def test_lower_is_better_needs_the_whole_interval_below_zero() -> None:
    assert Gain(delta=-2.0, low=-3.0, high=-1.0, rows=50).beyond_noise(higher_is_better=False)
    assert not Gain(delta=-2.0, low=-3.0, high=0.5, rows=50).beyond_noise(higher_is_better=False)


class _Classifier(mlseam.Model):
    task = "image_classification"
    primary_metric = "accuracy"

    def __init__(self, answers: list[str] | None = None) -> None:
        self.answers = answers or []

    def fit(self, examples: Examples[Any]) -> None:
        pass

    def predict(self, inputs: Any) -> list[str]:
        return self.answers[: len(inputs)]

    def evaluate(self, examples: Examples[Any]) -> dict[str, float]:
        return {"accuracy": float(np.mean(np.asarray(self.predict(examples.inputs)) == examples.labels))}


def _holdout(truth: np.ndarray) -> Examples[Any]:
    return Examples(ids=np.arange(len(truth)), inputs=[np.zeros((2, 2))] * len(truth), labels=truth)


def test_row_scores_that_disagree_with_evaluate_are_not_used() -> None:
    truth = _labels(20)
    model = _Classifier(_right_on(truth, 15))
    scores, why = holdout_row_scores(model, _holdout(truth), expected=0.75)
    assert scores is not None and why == ""
    scores, why = holdout_row_scores(model, _holdout(truth), expected=0.5)
    assert scores is None and why == "row_scores gives accuracy 0.75 but evaluate gives 0.5; make them agree"


def test_a_metric_the_platform_does_not_know_has_no_default_row_scores() -> None:
    class Custom(_Classifier):
        primary_metric = "cost"

    truth = _labels(10)
    scores, why = holdout_row_scores(Custom(list(truth)), _holdout(truth), expected=1.0)
    assert scores is None and why == "no per-row scores for cost: define row_scores in the model"

    class Declared(Custom):
        def row_scores(self, examples: Examples[Any]) -> RowScores:
            return RowScores.mean(np.ones(len(examples)))

    assert holdout_row_scores(Declared(), _holdout(truth), expected=1.0)[0] is not None


def _record(candidate: float, champion: float) -> ModelVersion:
    return ModelVersion(
        service="s",
        number=2,
        primary_metric="accuracy",
        metrics={"accuracy": candidate},
        champion_metrics={"accuracy": champion},
        holdout_count=34,
    )


CHAMPION = Champion(service="s", version="v1", revision=1, since="", reason="")
NOISE = Gain(delta=0.03, low=-0.03, high=0.09, rows=34)
CLEAR = Gain(delta=0.05, low=0.02, high=0.08, rows=34)


def test_the_default_rule_keeps_the_champion_when_the_gain_is_within_the_noise() -> None:
    verdict = judge_candidate(_record(0.94, 0.91), _Classifier(), CHAMPION, None, gain=NOISE)
    assert verdict.status is Status.KEPT
    assert verdict.reason.startswith(
        "not better beyond noise: accuracy 0.9400 vs champion v1 0.9100, +0.03, 95% interval -0.03..+0.09 "
        "on 34 holdout rows"
    )
    assert judge_candidate(_record(0.94, 0.89), _Classifier(), CHAMPION, None, gain=CLEAR).status is Status.PROMOTED


def test_min_improvement_still_applies_to_a_gain_beyond_the_noise() -> None:
    class Demanding(_Classifier):
        min_improvement = 0.1

    verdict = judge_candidate(_record(0.94, 0.89), Demanding(), CHAMPION, None, gain=CLEAR)
    assert verdict.status is Status.KEPT and verdict.reason.startswith("not better: ")


def test_an_authors_own_is_better_decides_alone() -> None:
    class Eager(_Classifier):
        def is_better(self, candidate: mlseam.Metrics, champion: mlseam.Metrics) -> bool:
            return True

    verdict = judge_candidate(_record(0.94, 0.91), Eager(), CHAMPION, None, gain=NOISE)
    assert verdict.status is Status.PROMOTED and verdict.reason.startswith("better by the model's is_better: ")


def test_without_row_scores_the_metric_decides_and_the_reason_says_why() -> None:
    why = "no per-row scores for cost: define row_scores in the model"
    verdict = judge_candidate(_record(0.94, 0.91), _Classifier(), CHAMPION, None, gain=None, no_gain_why=why)
    assert verdict.status is Status.PROMOTED
    assert verdict.reason.endswith(f"(not tested against the holdout's noise: {why})")


def test_box_metrics_resample_from_per_image_counts_and_match_the_platforms_scores() -> None:
    from mlseam.tasks.boxes import detection_scores as box_scores
    from mlseam.tasks.scores import detection_scores

    box = {"x": 0, "y": 0, "width": 10, "height": 10}
    shifted = {"x": 6, "y": 0, "width": 10, "height": 10, "score": 0.9}  # IoU 4/16: no match
    exact = {**box, "score": 0.8}
    truths = np.empty(4, dtype=object)
    truths[:] = [[box], [box], [], [box, {**box, "x": 20}]]
    predicted: list[Any] = [[exact], [shifted], [], [exact]]
    expected = box_scores(list(truths), predicted)
    for metric in ("f1", "precision", "recall"):
        scores = detection_scores(metric, truths, predicted)
        assert scores is not None and scores.value() == pytest.approx(expected[metric])
    only_empty = detection_scores("f1", truths, predicted)
    assert only_empty is not None
    assert only_empty.resampled(np.array([[0.0, 0.0, 3.0, 0.0]]))[0] == 1.0  # nothing to find, nothing found
    assert detection_scores("map", truths, predicted) is None
