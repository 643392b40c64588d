"""Task kinds validate inputs, labels and outputs, naming the item and the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mlseam.errors import InvalidInputError
from mlseam.tasks import ImageClassification, TabularRegression

image = ImageClassification.from_manifest({"height": 2, "width": 3})
table = TabularRegression.from_manifest({"features": ["a", "b"]})


def test_an_image_becomes_a_float_array() -> None:
    value = image.validate_input([[0, 1, 2], [3, 4.5, 5]])
    assert isinstance(value, np.ndarray) and value.shape == (2, 3) and value.dtype == np.float64


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ([], "input", "non-empty list of pixel rows"),
        ([[0, 1, 2], [3, 4]], "input[1]", "has 2 pixels, row 0 has 3"),
        ([[0, 1, 2], [3, 4, math.nan]], "input[1][2]", "must be finite"),
        ([[0, 1, 2], [3, 4, math.inf]], "input[1][2]", "must be finite"),
        ([[0, "1", 2], [3, 4, 5]], "input[0][1]", "expected a number, got str"),
        ([[0, True, 2], [3, 4, 5]], "input[0][1]", "expected a number, got bool"),
        ([[0, 1], [3, 4]], "input", "image is 2x2, this service expects 2x3"),
        ("pixels", "input", "non-empty list of pixel rows"),
    ],
)
def test_bad_images_name_index_and_field(value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        image.validate_input(value, index=4)
    assert caught.value.index == 4
    assert caught.value.field == field
    assert message in str(caught.value)


def test_labels_of_images_are_non_empty_strings() -> None:
    assert image.validate_label("7") == "7"
    for bad in ("", " ", 7, None):
        with pytest.raises(InvalidInputError, match="non-empty string"):
            image.validate_label(bad)


def test_tabular_inputs_follow_the_manifest_feature_order() -> None:
    assert table.validate_input({"b": 2, "a": 1}) == [1.0, 2.0]
    assert table.to_batch([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    assert table.to_batch([]).shape == (0, 2)
    assert table.input_to_json([1.0, 2.0]) == {"a": 1.0, "b": 2.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "missing feature(s) b"),
        ({"a": 1, "b": 2, "c": 3}, "unknown feature(s) c"),
        ({"a": 1, "b": math.nan}, "input.b: must be finite"),
        ({"a": 1, "b": None}, "input.b: expected a number, got NoneType"),
        ([1, 2], "expected an object of 2 named numbers"),
    ],
)
def test_bad_tabular_inputs_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        table.validate_input(value, index=0)


def test_outputs_are_checked_for_length_and_type() -> None:
    assert image.validate_outputs(np.array([1, 2]), 2) == ["1", "2"]
    assert table.validate_outputs(np.array([1.5]), 1) == [1.5]
    with pytest.raises(InvalidInputError, match="returned 1 outputs for 2 inputs"):
        table.validate_outputs([1.0], 2)
    with pytest.raises(InvalidInputError, match="expected a finite number"):
        table.validate_outputs([math.nan], 1)
    with pytest.raises(InvalidInputError, match="expected a label string"):
        image.validate_outputs([1.5], 1)


def test_bad_task_options_are_refused() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        TabularRegression.from_manifest({"features": ["a b"]})
