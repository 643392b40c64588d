"""A model's predictions turned into API outputs: labels, values and probabilities, checked once per batch."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlseam.errors import ModelOutputError
from mlseam.manifest import Service, load_service
from mlseam.runtime import UnusableOutput, predict_outputs
from mlseam.runtime.probabilities import PROBABILITY_DIGITS, Probabilities

SERVICES = Path(__file__).resolve().parents[2] / "services"


@pytest.fixture(scope="module")
def digits() -> Service:
    return load_service("digits", SERVICES)


@pytest.fixture(scope="module")
def diabetes() -> Service:
    return load_service("diabetes", SERVICES)


class Classifier:
    """Stands in for a fitted classifier: fixed labels, and probabilities chosen per test."""

    def __init__(self, labels: list[Any], probabilities: Any = None, classes: Any = ("1", "2")) -> None:
        self.labels = labels
        self.probabilities = probabilities
        self.classes = classes

    def predict(self, inputs: list[np.ndarray]) -> list[Any]:
        return self.labels[: len(inputs)]

    def predict_proba(self, inputs: list[np.ndarray]) -> Any:
        return self.probabilities


def _images(count: int) -> list[np.ndarray]:
    return [np.zeros((8, 8)) for _ in range(count)]


def _json(outputs: list[Any]) -> list[Any]:
    """Outputs as a client reads them (a probability output is pre-written JSON)."""
    return [output if isinstance(output, UnusableOutput) else orjson.loads(orjson.dumps(output)) for output in outputs]


def test_probabilities_ride_along_with_their_label(digits: Service) -> None:
    model = Classifier([np.int64(3), "7"], np.array([[0.75, 0.25], [1e-9, 1.0]], dtype=np.float32), np.array([3, 7]))
    outputs = _json(predict_outputs(digits, model, _images(2)))  # type: ignore[arg-type]
    assert outputs == [
        {"label": "3", "probabilities": {"3": 0.75, "7": 0.25}},
        {"label": "7", "probabilities": {"3": 0.0, "7": 1.0}},
    ]


def test_each_output_carries_its_prediction_id_when_given(digits: Service, diabetes: Service) -> None:
    model = Classifier(["3", "7"], np.array([[0.75, 0.25], [0.0, 1.0]]), np.array([3, 7]))
    ids = ["a" * 32, "b" * 32]
    outputs = _json(predict_outputs(digits, model, _images(2), ids))  # type: ignore[arg-type]
    assert [output["prediction_id"] for output in outputs] == ids
    assert outputs[0] == {"label": "3", "probabilities": {"3": 0.75, "7": 0.25}, "prediction_id": ids[0]}
    rows = [diabetes.kind.validate_input(dict.fromkeys(diabetes.kind.features, 0.0))] * 2  # type: ignore[attr-defined]
    values = predict_outputs(diabetes, Regressor([1.5, math.inf]), rows, ids)  # type: ignore[arg-type]
    assert values[0] == {"value": 1.5, "prediction_id": ids[0]}
    assert isinstance(values[1], UnusableOutput)


def test_a_model_without_probabilities_answers_labels_only(digits: Service) -> None:
    outputs = predict_outputs(digits, Classifier(["1", "2"]), _images(2))  # type: ignore[arg-type]
    assert outputs == [{"label": "1"}, {"label": "2"}]


@pytest.mark.parametrize(
    ("probabilities", "classes", "message"),
    [
        ([[0.5, 0.5]], ("1", "2"), "predict_proba returned shape (1, 2) for 2 inputs and 2 classes"),
        ([[1.0], [1.0]], ("1", "2"), "predict_proba returned shape (2, 1) for 2 inputs and 2 classes"),
        ([[1.0, 0.0], ["high", 0.0]], ("1", "2"), "predict_proba returned list; return an array of numbers"),
        ([[1.0, 0.0], [1.5, 0.0]], ("1", "2"), "values from 0.0 to 1.5; probabilities lie in [0, 1]"),
        ([[1.0, 0.0], [0.5, 0.5]], None, "needs `self.classes`"),
        ([[1.0, 0.0], [0.5, 0.5]], "12", "needs `self.classes`"),
        ([[1.0, 0.0], [0.5, 0.5]], (1, "1"), "holds a label twice"),
    ],
)
def test_broken_probabilities_fail_the_batch_saying_what_is_wrong(
    digits: Service, probabilities: Any, classes: Any, message: str
) -> None:
    with pytest.raises(ModelOutputError, match=re.escape(message)):
        predict_outputs(digits, Classifier(["1", "2"], probabilities, classes), _images(2))  # type: ignore[arg-type]


def test_a_non_finite_probability_refuses_only_that_input(digits: Service) -> None:
    outputs = _json(predict_outputs(digits, Classifier(["1", "2"], [[1.0, 0.0], [math.nan, 1.0]]), _images(2)))  # type: ignore[arg-type]
    assert outputs[0] == {"label": "1", "probabilities": {"1": 1.0, "2": 0.0}}
    assert isinstance(outputs[1], UnusableOutput)


class Regressor:
    def __init__(self, values: list[float]) -> None:
        self.values = values

    def predict(self, inputs: np.ndarray) -> list[float]:
        return self.values

    def predict_proba(self, inputs: np.ndarray) -> Any:
        raise AssertionError("regression outputs never carry probabilities")


def test_regression_outputs_are_values_and_non_finite_ones_are_unusable(diabetes: Service) -> None:
    rows = [dict.fromkeys(diabetes.kind.features, 0.0)] * 2  # type: ignore[attr-defined]
    inputs = [diabetes.kind.validate_input(row) for row in rows]
    outputs = predict_outputs(diabetes, Regressor([1.5, math.inf]), inputs)  # type: ignore[arg-type]
    assert outputs[0] == {"value": 1.5}
    assert isinstance(outputs[1], UnusableOutput)


_CLASS_NAMES = st.lists(st.text(min_size=0, max_size=6), min_size=1, max_size=12, unique=True)
_PROBABILITY = st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0, 1e-9, 5e-7, 1e-6, 0.1234565, 2.5e-05])


@given(st.data())
def test_written_json_equals_the_dict_a_client_expects(data: st.DataObject) -> None:
    """The pre-written JSON is exactly what dumping a dict per input would give, for any classes."""
    classes = data.draw(_CLASS_NAMES)
    count = data.draw(st.integers(0, 20))
    matrix = data.draw(arrays(np.float64, (count, len(classes)), elements=_PROBABILITY))
    written = Probabilities(classes, matrix, np.ones(count, dtype=bool)).json_outputs()
    expected = [
        {
            "label": classes[int(np.argmax(row))],
            "probabilities": dict(zip(classes, np.round(row, PROBABILITY_DIGITS).tolist(), strict=True)),
        }
        for row in matrix
    ]
    assert [orjson.loads(text) for text in written] == expected
    assert len({len(text) for text in written}) <= 1, "every row has the same width, whatever its label"
