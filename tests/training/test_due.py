"""What makes a retrain fit a candidate: new examples, a changed model, or --force (no stores needed)."""

from __future__ import annotations

import pydantic
import pytest

from mlseam.examples import ExampleStats
from mlseam.manifest import RetrainWhen
from mlseam.registry import ModelVersion
from mlseam.training.due import due_conditions, model_changes, not_due, retrain_trigger

SHA = "779757eeff90" + "a" * 28


def _version(**fields: object) -> ModelVersion:
    base: dict[str, object] = {"service": "s", "number": 1, "params": {"C": 1.0}, "code_version": SHA, "watermark": 7}
    return ModelVersion(**{**base, **fields})  # type: ignore[arg-type]


def test_an_unchanged_model_with_no_new_examples_needs_no_fit() -> None:
    assert retrain_trigger(_version(), _version(number=2), ExampleStats(count=7, watermark=7), force=False) is None


def test_uncommitted_changes_are_named_as_such_not_as_a_same_looking_sha() -> None:
    changes = model_changes(_version(), _version(code_version=SHA + "-dirty"))
    assert changes == ["code version 779757eeff90 -> 779757eeff90-dirty"]


def test_params_and_new_examples_are_both_named() -> None:
    trigger = retrain_trigger(_version(), _version(params={"C": 0.5}), ExampleStats(count=9, watermark=9), force=False)
    assert trigger == "new examples since champion v1 (watermark 7 -> 9); params changed (C: 1.0 -> 0.5)"


def _when(**fields: object) -> RetrainWhen:
    return RetrainWhen.model_validate(fields)


def test_retrain_when_new_examples_counts_what_arrived_since_the_champion_read() -> None:
    champion = _version(train_count=80, holdout_count=20, malformed_rows=2)
    when = _when(new_examples=50)
    assert (
        retrain_trigger(champion, _version(number=2), ExampleStats(count=140, watermark=9), force=False, when=when)
        is None
    )
    fired = retrain_trigger(champion, _version(number=2), ExampleStats(count=152, watermark=9), force=False, when=when)
    assert fired == "50 new examples since champion v1 (retrain_when.new_examples: 50)"


def test_retrain_when_live_worse_by_compares_live_and_holdout_in_the_metrics_direction() -> None:
    live = {"metrics": {"rmse": 60.0}, "labelled": 300}
    champion = _version(primary_metric="rmse", metrics={"rmse": 50.0}, live=live)
    stats = ExampleStats(count=0, watermark=7)
    due = retrain_trigger(
        champion, _version(number=2), stats, force=False, when=_when(live_worse_by=5.0), higher_is_better=False
    )
    assert due == "live rmse 60.0000 on 300 labelled predictions vs holdout 50.0000 (retrain_when.live_worse_by: 5.0)"
    assert (
        retrain_trigger(
            champion, _version(number=2), stats, force=False, when=_when(live_worse_by=15.0), higher_is_better=False
        )
        is None
    )
    unmeasured = _version(primary_metric="rmse", metrics={"rmse": 50.0})
    states = due_conditions(unmeasured, stats, _when(live_worse_by=5.0), higher_is_better=False)
    assert states == [("", "no live rmse measured yet for champion v1 (run mlseam monitor)")]


def test_retrain_when_drift_fires_only_on_a_drifted_verdict() -> None:
    stats = ExampleStats(count=0, watermark=7)
    drifted = _version(drift={"verdict": "drifted", "summary": "drifted: bmi PSI 0.41"})
    stable = _version(drift={"verdict": "stable", "summary": "stable: largest PSI 0.02 (age)"})
    assert (
        retrain_trigger(drifted, _version(number=2), stats, force=False, when=_when(drift=True))
        == "drift: drifted: bmi PSI 0.41"
    )
    assert retrain_trigger(stable, _version(number=2), stats, force=False, when=_when(drift=True)) is None
    assert not_due(stable, stats, _when(drift=True), True) == (
        "not due: drift: stable: largest PSI 0.02 (age); its model is unchanged; champion kept, no version added"
    )


def test_a_changed_model_is_due_whatever_retrain_when_says() -> None:
    trigger = retrain_trigger(
        _version(), _version(params={"C": 2.0}), ExampleStats(count=0, watermark=7), force=False, when=_when(drift=True)
    )
    assert trigger == "params changed (C: 1.0 -> 2.0)"


def test_an_empty_retrain_when_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="declare at least one of new_examples"):
        RetrainWhen.model_validate({})
