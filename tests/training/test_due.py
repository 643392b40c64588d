"""What makes a retrain fit a candidate: new examples, a changed model, or --force (no stores needed)."""

from __future__ import annotations

from mlseam.examples import ExampleStats
from mlseam.registry import ModelVersion
from mlseam.training.due import model_changes, retrain_trigger

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
