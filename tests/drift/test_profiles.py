"""Profiles and PSI on small hand-made data: bins, shares, verdicts, JSON, what each kind measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlseam.drift import (
    DRIFTED_FROM,
    MODERATE_FROM,
    Binned,
    DriftVerdict,
    Profile,
    ReferenceProfile,
    Shares,
    compare,
    profile_inputs,
    profile_outputs,
    profile_window,
    psi,
)
from mlseam.errors import InvalidInputError
from mlseam.tasks import TASK_KINDS, TaskKind

FEATURES = ["a", "b"]


def _tabular() -> TaskKind:  # type: ignore[type-arg]
    return TASK_KINDS["tabular_regression"].from_manifest({"features": FEATURES})


def _images(kind: str = "image_classification", **options: object) -> TaskKind:  # type: ignore[type-arg]
    return TASK_KINDS[kind].from_manifest({"min_value": 0, "max_value": 16, **options})


def test_values_fall_in_open_outer_bins_with_edges_left_closed() -> None:
    binned = Binned.of(np.array([-5.0, 1.0, 1.5, 2.0, 99.0]), np.array([1.0, 2.0]))
    assert binned.shares == (0.2, 0.4, 0.4)


def test_reference_bins_are_the_deciles_and_hold_a_tenth_each() -> None:
    profile = profile_inputs(_tabular(), np.random.default_rng(0).normal(size=(10_000, 2)))
    stat = profile.statistics["a"]
    assert isinstance(stat, Binned) and len(stat.edges) == 9
    assert np.allclose(stat.shares, 0.1, atol=1e-3)


def test_a_binary_feature_gets_the_few_bins_its_two_values_fill() -> None:
    matrix = np.column_stack([np.repeat([0.0, 1.0], [700, 300]), np.arange(1000.0)])
    stat = profile_inputs(_tabular(), matrix).statistics["a"]
    assert isinstance(stat, Binned) and stat.edges == (0.0, 1.0)
    assert stat.shares == (0.0, 0.7, 0.3)


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift() -> None:
    reference = Binned(edges=(0.0,), shares=(0.5, 0.5))
    assert psi(reference, reference) == 0.0
    small, large = (Binned(edges=(0.0,), shares=s) for s in ((0.55, 0.45), (0.9, 0.1)))
    assert 0 < psi(reference, small) < MODERATE_FROM <= DRIFTED_FROM < psi(reference, large)


def test_an_empty_bin_on_either_side_gives_a_finite_psi() -> None:
    value = psi(Binned(edges=(0.0,), shares=(1.0, 0.0)), Binned(edges=(0.0,), shares=(0.0, 1.0)))
    assert np.isfinite(value) and value > DRIFTED_FROM


def test_categories_only_one_side_has_count_as_drift() -> None:
    value = psi(Shares({"cat": 0.5, "dog": 0.5}), Shares({"cat": 0.5, "fox": 0.5}))
    assert DriftVerdict.of(value) is DriftVerdict.DRIFTED


def test_the_verdict_thresholds_are_the_documented_ones() -> None:
    assert (MODERATE_FROM, DRIFTED_FROM) == (0.1, 0.25)
    verdicts = [DriftVerdict.of(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0)]
    assert [v.value for v in verdicts] == ["stable", "stable", "moderate", "moderate", "drifted", "drifted"]


def test_a_window_profile_binned_on_other_edges_is_refused() -> None:
    reference = profile_inputs(_tabular(), np.random.default_rng(0).normal(size=(500, 2)))
    own_bins = profile_inputs(_tabular(), np.random.default_rng(1).normal(size=(500, 2)))
    with pytest.raises(InvalidInputError, match="profile_window"):
        compare(reference, own_bins)


def test_an_empty_window_is_refused_rather_than_called_stable() -> None:
    reference = profile_inputs(_tabular(), np.random.default_rng(0).normal(size=(500, 2)))
    with pytest.raises(InvalidInputError, match="nothing to compare"):
        compare(reference, np.empty((0, 2)))


def test_the_api_json_inputs_compare_like_the_matrix_they_make() -> None:
    matrix = np.random.default_rng(0).normal(size=(500, 2))
    reference = profile_inputs(_tabular(), matrix)
    shifted = matrix + np.array([3.0, 0.0])
    rows = [dict(zip(FEATURES, map(float, row), strict=True)) for row in shifted]
    report = compare(reference, rows)
    assert report.to_dict() == compare(reference, shifted).to_dict()
    assert report.verdict is DriftVerdict.DRIFTED and report.top == ["a"]


def test_the_report_names_the_drifting_features_first_and_sums_up_in_one_line() -> None:
    matrix = np.random.default_rng(0).normal(size=(5000, 2))
    report = compare(profile_inputs(_tabular(), matrix), matrix * [1.0, 4.0])
    assert [s.name for s in report.statistics] == ["b", "a"]
    assert report.top == ["b"] and report.verdict is DriftVerdict.DRIFTED
    assert report.summary.startswith("inputs drifted: b PSI ") and "\n" not in report.summary
    assert report.summary.endswith("(5,000 vs 5,000 in the reference)")
    json.dumps(report.to_dict())


def test_a_reference_profile_survives_its_json() -> None:
    images = [np.random.default_rng(i).integers(0, 17, size=(8, 8 + i)).astype(float) for i in range(20)]
    reference = ReferenceProfile(
        inputs=profile_inputs(_images("ocr", height=8), images),
        outputs=profile_outputs(TASK_KINDS["ocr"].name, ["12", "1250", ""]),
    )
    loaded = ReferenceProfile.from_json(reference.to_json())
    assert loaded == reference
    assert compare(loaded.inputs, images).verdict is DriftVerdict.STABLE


def test_bytes_that_are_not_a_profile_are_refused_in_one_line() -> None:
    with pytest.raises(InvalidInputError, match="not a drift profile"):
        ReferenceProfile.from_json(b'{"format": 1, "inputs": {"kind": "ocr"}}')


def test_images_are_profiled_by_intensity_ink_and_size() -> None:
    images = [np.zeros((8, 8)), np.full((8, 8), 16.0), np.zeros((16, 4))]
    profile = profile_inputs(_images(), images)
    assert set(profile.statistics) == {"intensity", "ink_share", "height", "width"}
    intensity = profile.statistics["intensity"]
    assert isinstance(intensity, Binned) and len(intensity.shares) == 16
    assert intensity.shares[0] == pytest.approx(128 / 192) and intensity.shares[-1] == pytest.approx(64 / 192)
    assert profile.params == {"low": 0.0, "high": 16.0, "ink_threshold": 1.6}


def test_an_undeclared_pixel_range_is_taken_from_the_reference_images() -> None:
    kind = TASK_KINDS["image_classification"].from_manifest({})
    profile = profile_inputs(kind, [np.array([[0.0, 255.0]])])
    assert (profile.params["low"], profile.params["high"]) == (0.0, 255.0)


def test_each_kind_profiles_the_outputs_it_predicts() -> None:
    boxes = {"x": 0, "y": 0, "width": 4, "height": 2, "score": 0.9}
    cases: dict[str, tuple[list[object], str]] = {
        "image_classification": ([{"label": "3", "probabilities": {"3": 0.9}}, "4"], "label"),
        "tabular_classification": (["0", "1"], "label"),
        "tabular_regression": ([{"value": 1.5}, 2.5], "value"),
        "ocr": ([{"text": "1250"}, ""], "text_length"),
        "text_detection": ([{"boxes": [boxes, boxes]}, []], "box_count"),
    }
    for kind, (outputs, statistic) in cases.items():
        profile = profile_outputs(kind, outputs)
        assert (profile.side, profile.count, list(profile.statistics)) == ("outputs", 2, [statistic]), kind
    label = profile_outputs("image_classification", cases["image_classification"][0]).statistics["label"]
    assert label == Shares({"3": 0.5, "4": 0.5})
    counts = profile_outputs("text_detection", cases["text_detection"][0]).statistics["box_count"]
    assert isinstance(counts, Binned) and counts.edges == (0.0, 2.0) and counts.shares == (0.0, 0.5, 0.5)


def test_a_window_of_outputs_is_binned_on_the_reference_edges() -> None:
    reference = profile_outputs("tabular_regression", list(np.linspace(0, 100, 1000)))
    window = profile_window(reference, [50.0] * 10)
    assert isinstance(window, Profile) and window.statistics["value"].edges == reference.statistics["value"].edges  # type: ignore[union-attr]
    assert compare(reference, window).verdict is DriftVerdict.DRIFTED
