"""Declared ranges of tabular_regression: each feature and the label hold to theirs, wherever they are read."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
import yaml

from mlseam.errors import InvalidInputError
from mlseam.manifest import load_service
from mlseam.serving.problems import invalid_input_from
from mlseam.serving.schemas import build_schemas
from mlseam.settings import REPO_ROOT
from mlseam.tasks import MatrixBounds, TabularRegression

ranged = TabularRegression.from_manifest(
    {
        "features": [{"name": "age", "min": 18, "max": 110}, "bmi", {"name": "dose", "max": 5}],
        "label": {"min": 0, "max": 1000},
        "max_abs": 100,
    }
)


def test_a_list_of_names_still_declares_the_features_bounded_by_max_abs() -> None:
    plain = TabularRegression.from_manifest({"features": ["a", "b"], "max_abs": 10})
    assert plain.features == ["a", "b"]
    assert plain.validate_input({"a": 10, "b": -10}) == [10.0, -10.0]
    with pytest.raises(InvalidInputError, match=r"^input.b: Input should be greater than or equal to -10$"):
        plain.validate_input({"a": 0, "b": -10.5})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"age": 17, "bmi": 0, "dose": 1}, "input.age: Input should be greater than or equal to 18"),
        ({"age": 30, "bmi": 0, "dose": 5.01}, "input.dose: Input should be less than or equal to 5"),
        ({"age": 30, "bmi": 101, "dose": 1}, "input.bmi: Input should be less than or equal to 100"),
        ({"age": 30, "bmi": 0, "dose": -101}, "input.dose: Input should be greater than or equal to -100"),
    ],
)
def test_a_value_outside_its_range_is_refused_naming_the_feature(value: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ranged.validate_input(value, index=3)
    assert str(caught.value) == message and caught.value.index == 3


def test_values_on_the_bounds_are_accepted() -> None:
    assert ranged.validate_input({"age": 110, "bmi": -100, "dose": 5}) == [110.0, -100.0, 5.0]
    assert ranged.validate_label(0) == 0.0 and ranged.validate_label(1000) == 1000.0


@pytest.mark.parametrize("label", [-0.5, 1000.5, 9e8])
def test_a_label_outside_its_range_is_refused(label: float) -> None:
    with pytest.raises(InvalidInputError, match=r"^label: Input should be (greater|less) than or equal to"):
        ranged.validate_label(label)


def test_the_fast_path_holds_every_column_to_its_own_range() -> None:
    good = {"age": 40, "bmi": 50, "dose": 1}
    assert ranged.fast_inputs([good], orjson.dumps({"inputs": [good]})) == [[40.0, 50.0, 1.0]]
    for bad in ({**good, "age": 17}, {**good, "dose": 6}, {**good, "bmi": -101}):
        assert ranged.fast_inputs([good, bad], orjson.dumps({"inputs": [good, bad]})) is None


def test_the_warm_up_input_lies_within_every_range() -> None:
    sample = ranged.sample_input()
    assert sample == [18.0, 0.0, 0.0]
    ranged.validate_input(ranged.input_to_json(sample))


def test_rows_within_masks_each_column_and_the_label_and_never_keeps_nan() -> None:
    bounds = MatrixBounds(low=np.array([0.0, -1.0]), high=np.array([1.0, 1.0]), label=(0.0, 10.0))
    matrix = np.array([[0.5, 0.0], [1.5, 0.0], [0.5, -2.0], [np.nan, 0.0], [0.5, 0.0], [1.0, -1.0]])
    labels = np.array([5.0, 5.0, 5.0, 5.0, 11.0, 10.0])
    assert bounds.rows_within(matrix, labels, chunk_rows=2).tolist() == [True, False, False, False, False, True]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"features": [{"name": "a", "min": 1, "max": 0}]}, "min 1.0 must be below max 0.0"),
        ({"features": ["a"], "label": {"min": 5, "max": 1}}, "min 5.0 must be below max 1.0"),
        ({"features": [{"name": "a", "min": 2e9}]}, "the range 2000000000.0..1000000000.0 is empty"),
        ({"features": [{"name": "a", "max": float("inf")}]}, "finite number"),
        ({"features": [{"name": "a", "low": 1}]}, "Extra inputs are not permitted"),
        ({"features": [3]}, "a feature is a name (bmi) or a mapping {name: bmi, min: -0.5, max: 0.5}, not 3"),
    ],
)
def test_an_impossible_range_is_refused(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TabularRegression.from_manifest(inputs)


def test_the_diabetes_ranges_show_in_its_api_schema_and_name_the_field() -> None:
    service = load_service("diabetes", REPO_ROOT / "services")
    schemas = build_schemas(service, 10)
    schema = schemas.examples_request.json_schema()
    example = schema["$defs"]["DiabetesExample"]
    features = schema["$defs"][example["properties"]["input"]["$ref"].rsplit("/", 1)[1]]
    assert features["properties"]["bmi"]["minimum"] == -0.5 and features["properties"]["bmi"]["maximum"] == 0.5
    assert example["properties"]["label"]["minimum"] == 0 and example["properties"]["label"]["maximum"] == 1000

    row = dict.fromkeys(service.kind.features, 0.01)  # type: ignore[attr-defined]
    body = {"examples": [{"input": row, "label": 150}, {"input": row, "label": -9e8}]}
    with pytest.raises(pydantic.ValidationError) as caught:
        schemas.examples_request.validate_json(orjson.dumps(body))
    error = invalid_input_from(caught.value, "examples")
    assert error.field == "examples[1].label" and error.index == 1
    assert str(error) == "examples[1].label: Input should be greater than or equal to 0"

    inputs = {"inputs": [row, row, row, {**row, "bmi": 0.7}]}
    with pytest.raises(pydantic.ValidationError) as caught:
        schemas.predict_request.validate_json(orjson.dumps(inputs))
    assert str(invalid_input_from(caught.value, "inputs")) == "inputs[3].bmi: Input should be less than or equal to 0.5"


def test_rewriting_a_manifest_cannot_reorder_the_columns() -> None:
    # A list keeps its order through any YAML round trip (a mapping may come back sorted).
    text = (REPO_ROOT / "services" / "diabetes" / "service.yaml").read_text()
    features = yaml.safe_load(yaml.safe_dump(yaml.safe_load(text)))["inputs"]["features"]
    assert [f["name"] for f in features] == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
