"""Real data sets: shifted inputs are flagged, large samples of the training distribution are not."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_wine

from mlseam.drift import DriftVerdict, Profile, compare, profile_inputs
from mlseam.tasks import TASK_KINDS, TaskKind

LARGE = 100_000


def _kind(name: str, features: list[str], **options: object) -> TaskKind:  # type: ignore[type-arg]
    return TASK_KINDS[name].from_manifest({"features": features, **options})


@pytest.fixture(scope="module")
def digits() -> tuple[list[np.ndarray], Profile]:
    images = list(load_digits().images)
    kind = TASK_KINDS["image_classification"].from_manifest({"height": 8, "width": 8, "min_value": 0, "max_value": 16})
    return images, profile_inputs(kind, images)


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, Profile]:
    data = load_diabetes()
    return data.data, profile_inputs(_kind("tabular_regression", list(data.feature_names)), data.data)


@pytest.fixture(scope="module")
def wine() -> tuple[np.ndarray, Profile]:
    data = load_wine()
    names = [name.replace("/", "_") for name in data.feature_names]
    return data.data, profile_inputs(_kind("tabular_classification", names, labels=["0", "1", "2"]), data.data)


def test_inverted_digit_images_are_flagged(digits: tuple[list[np.ndarray], Profile]) -> None:
    images, reference = digits
    report = compare(reference, [16 - image for image in images])
    assert report.verdict is DriftVerdict.DRIFTED
    assert {"intensity", "ink_share"} <= set(report.top)


def test_digit_images_resampled_a_hundred_thousand_times_are_stable(
    digits: tuple[list[np.ndarray], Profile],
) -> None:
    images, reference = digits
    picks = np.random.default_rng(7).integers(0, len(images), size=LARGE)
    report = compare(reference, [images[i] for i in picks])
    assert report.verdict is DriftVerdict.STABLE, report.summary


@pytest.mark.parametrize("shift", ["rescaled x 3", "shifted by one standard deviation"])
def test_shifted_diabetes_features_are_flagged(shift: str, diabetes: tuple[np.ndarray, Profile]) -> None:
    rows, reference = diabetes
    window = rows * 3 if shift == "rescaled x 3" else rows + rows.std(axis=0)
    report = compare(reference, window)
    assert report.verdict is DriftVerdict.DRIFTED
    assert len(report.top) == 3
    assert all(s.verdict is DriftVerdict.DRIFTED for s in report.statistics if s.name in ("bmi", "s5"))


def test_one_shifted_diabetes_feature_is_named_alone(diabetes: tuple[np.ndarray, Profile]) -> None:
    rows, reference = diabetes
    window = rows.copy()
    window[:, 2] += rows[:, 2].std()
    report = compare(reference, window)
    assert report.verdict is DriftVerdict.DRIFTED and report.top == ["bmi"]


def test_diabetes_rows_resampled_a_hundred_thousand_times_are_stable(diabetes: tuple[np.ndarray, Profile]) -> None:
    rows, reference = diabetes
    window = rows[np.random.default_rng(7).integers(0, len(rows), size=LARGE)]
    report = compare(reference, window)
    assert report.verdict is DriftVerdict.STABLE, report.summary


def test_rescaled_wine_measurements_are_flagged(wine: tuple[np.ndarray, Profile]) -> None:
    rows, reference = wine
    report = compare(reference, rows * 1.5)
    assert report.verdict is DriftVerdict.DRIFTED and len(report.top) == 3


def test_wine_rows_resampled_a_hundred_thousand_times_are_stable(wine: tuple[np.ndarray, Profile]) -> None:
    rows, reference = wine
    window = rows[np.random.default_rng(7).integers(0, len(rows), size=LARGE)]
    assert compare(reference, window).verdict is DriftVerdict.STABLE


def test_fresh_draws_from_the_gaussian_fitted_to_the_training_rows_are_stable_and_its_shift_is_not(
    diabetes: tuple[np.ndarray, Profile],
) -> None:
    # given: a training set drawn from the Gaussian fitted to the diabetes rows, and its profile
    rows, _ = diabetes
    rng = np.random.default_rng(11)
    mean, cov = rows.mean(axis=0), np.cov(rows, rowvar=False)
    kind = _kind("tabular_regression", list(load_diabetes().feature_names))
    reference = profile_inputs(kind, rng.multivariate_normal(mean, cov, size=20_000))

    # when: a hundred thousand fresh draws from it arrive, and then the same shifted
    fresh = rng.multivariate_normal(mean, cov, size=LARGE)
    shifted = fresh + np.sqrt(np.diag(cov))

    # then: the fresh ones are stable, the shifted ones drifted in every feature
    assert compare(reference, fresh).verdict is DriftVerdict.STABLE
    report = compare(reference, shifted)
    assert all(s.verdict is DriftVerdict.DRIFTED for s in report.statistics)


def test_profiling_and_comparing_a_hundred_thousand_tabular_rows_is_quick(
    diabetes: tuple[np.ndarray, Profile],
) -> None:
    rows, _ = diabetes
    window = rows[np.random.default_rng(3).integers(0, len(rows), size=LARGE)]
    kind = _kind("tabular_regression", list(load_diabetes().feature_names))
    started = time.perf_counter()
    reference = profile_inputs(kind, window)
    profiled = time.perf_counter() - started
    compare(reference, window)
    total = time.perf_counter() - started
    print(f"profile of {LARGE:,} rows x 10 features: {profiled:.3f}s; with a comparison: {total:.3f}s")
    assert reference.count == LARGE
