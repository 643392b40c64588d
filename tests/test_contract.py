"""The Model contract: the comparison rule and load-time validation of model classes."""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlseam
from mlseam.contract import validate_model_class
from mlseam.errors import ContractError


class Higher(mlseam.Model):
    task = "image_classification"
    primary_metric = "f1"
    min_improvement = 0.01

    def fit(self, examples: Any) -> None: ...
    def predict(self, inputs: Any) -> list[Any]:
        return []

    def evaluate(self, examples: Any) -> dict[str, float]:
        return {}


class Lower(Higher):
    primary_metric = "rmse"
    higher_is_better = False
    min_improvement = 0.0


def test_public_api_matches_all() -> None:
    # Submodules show up as attributes once imported anywhere; only `tasks` is public.
    public = {n for n in dir(mlseam) if not n.startswith("_") and not isinstance(getattr(mlseam, n), ModuleType)}
    assert public | {"tasks", "__version__"} == set(mlseam.__all__)
    assert all(hasattr(mlseam, name) for name in mlseam.__all__)


def test_higher_is_better_needs_the_minimum_improvement() -> None:
    model = Higher()
    assert model.is_better({"f1": 0.92}, {"f1": 0.90})
    assert not model.is_better({"f1": 0.905}, {"f1": 0.90})
    assert not model.is_better({"f1": 0.80}, {"f1": 0.90})


def test_lower_is_better() -> None:
    model = Lower()
    assert model.is_better({"rmse": 1.0}, {"rmse": 2.0})
    assert not model.is_better({"rmse": 2.0}, {"rmse": 1.0})


def test_a_champion_without_a_finite_metric_loses() -> None:
    assert Lower().is_better({"rmse": 5.0}, {"rmse": math.nan})
    assert Lower().is_better({"rmse": 5.0}, {})


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_is_better_is_irreflexive(value: float) -> None:
    for model in (Higher(), Lower()):
        assert not model.is_better({model.primary_metric: value}, {model.primary_metric: value})


class NoPredict(mlseam.Model):
    task = "image_classification"
    primary_metric = "f1"

    def fit(self, examples: Any) -> None: ...
    def evaluate(self, examples: Any) -> dict[str, float]:
        return {}


@pytest.mark.parametrize(
    ("cls", "task", "message"),
    [
        (NoPredict, None, "x.py:NoPredict: missing method predict; define `predict(self, inputs)"),
        (dict, None, "is not a subclass of mlseam.Model"),
        (Higher, "tabular_regression", "task = 'image_classification' but service.yaml says task: tabular_regression"),
        (type("Gap", (Lower,), {"min_improvement": -1}), None, "min_improvement must be a finite number >= 0"),
        (type("NoMetric", (Lower,), {"primary_metric": ""}), None, "primary_metric must be the name"),
        (type("BadTask", (Lower,), {"task": "ocr-ish"}), None, "'ocr-ish' is not a task kind; use one of"),
        (
            type("NoInputs", (Lower,), {"predict": lambda self: []}),
            None,
            "x.py:NoInputs: predict(self) cannot be called as `predict(self, inputs) -> list of outputs`",
        ),
        (type("NotAMethod", (Lower,), {"fit": 3}), None, "fit is int, not a method; define `fit(self, examples)"),
        (type("NoneMethod", (Lower,), {"evaluate": None}), None, "evaluate is NoneType, not a method"),
        (
            type("OneSided", (Lower,), {"is_better": lambda self, candidate: True}),
            None,
            "is_better(self, candidate) cannot be called as `is_better(self, candidate, champion) -> bool`",
        ),
        (
            type("NeedsArgs", (Lower,), {"__init__": lambda self, path: None}),
            None,
            "__init__(path) needs arguments, but the platform creates the model as `NeedsArgs()`",
        ),
    ],
)
def test_contract_breaking_classes_are_refused_with_one_line(cls: Any, task: str | None, message: str) -> None:
    with pytest.raises(ContractError) as caught:
        validate_model_class(cls, where=f"x.py:{cls.__name__}", task=task)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


class Flexible(Lower):
    """Valid, if unusual: star-args, defaults and static methods bind the platform's calls."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    @staticmethod
    def predict(inputs: Any, *extra: Any) -> list[Any]:
        return []

    def is_better(self, *metrics: Any) -> bool:
        return super().is_better(*metrics)


def test_classes_whose_methods_bind_the_platforms_calls_are_accepted() -> None:
    assert validate_model_class(Flexible, where="x.py:Flexible") is Flexible
