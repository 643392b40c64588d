"""Task kinds validate inputs, labels and outputs, naming the item and the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.tasks import ImageClassification, TabularRegression

image = ImageClassification.from_manifest({"height": 2, "width": 3})
table = TabularRegression.from_manifest({"features": ["a", "b"]})


def test_an_image_becomes_a_float_array() -> None:
    value = image.validate_input([[0, 1, 2], [3, 4.5, 5]])
    assert isinstance(value, np.ndarray) and value.shape == (2, 3) and value.dtype == np.float64


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ([], "input", "List should have at least 2 items after validation, not 0"),
        ([[0, 1, 2], [3, 4]], "input[1]", "List should have at least 3 items"),
        ([[0, 1, 2], [3, 4, math.nan]], "input[1][2]", "Input should be a finite number"),
        ([[0, 1, 2], [3, 4, math.inf]], "input[1][2]", "Input should be a finite number"),
        ([[0, "1", 2], [3, 4, 5]], "input[0][1]", "Input should be a valid number"),
        ([[0, True, 2], [3, 4, 5]], "input[0][1]", "Input should be a valid number"),
        ([[0, 1], [3, 4]], "input[0]", "List should have at least 3 items"),
        ("pixels", "input", "Input should be a valid list"),
    ],
)
def test_bad_images_name_index_and_field(value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        image.validate_input(value, index=4)
    assert caught.value.index == 4
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: {message}")


def test_images_of_free_size_must_still_be_rectangular() -> None:
    free = ImageClassification.from_manifest({})
    assert free.validate_input([[1, 2, 3]]).shape == (1, 3)
    with pytest.raises(InvalidInputError, match=r"input\[1\]: has 1 pixels, row 0 has 2"):
        free.validate_input([[1, 2], [3]])
    with pytest.raises(InvalidInputError, match="exceeds the limit of 4"):
        ImageClassification.from_manifest({"max_pixels": 4}).validate_input([[1, 2, 3], [4, 5, 6]])


def test_labels_of_images_are_non_empty_strings() -> None:
    assert image.validate_label("7") == "7"
    for bad in ("", " ", 7, None):
        with pytest.raises(InvalidInputError, match="^label: "):
            image.validate_label(bad)


def test_declared_image_labels_are_the_only_ones_accepted() -> None:
    digits = ImageClassification.from_manifest({"labels": ["0", "1", "2"]})
    assert digits.validate_label(" 2 ") == "2"
    with pytest.raises(
        InvalidInputError, match=r"^label: 'cat' is not one of the labels in service.yaml \('0', '1', '2'\)$"
    ):
        digits.validate_label("cat")
    assert digits.label_adapter.json_schema()["enum"] == ["0", "1", "2"]
    for bad in (["0"], ["0", "0"], ["0", ""]):
        with pytest.raises(ValueError, match="labels"):
            ImageClassification.from_manifest({"labels": bad})


def test_tabular_inputs_follow_the_manifest_feature_order() -> None:
    assert table.validate_input({"b": 2, "a": 1}) == [1.0, 2.0]
    assert table.to_batch([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)
    assert table.to_batch([]).shape == (0, 2)
    assert table.input_to_json([1.0, 2.0]) == {"a": 1.0, "b": 2.0}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"a": 1}, "input.b: Field required"),
        ({"a": 1, "b": 2, "c": 3}, "input.c: Extra inputs are not permitted"),
        ({"a": 1, "b": math.nan}, "input.b: Input should be a finite number"),
        ({"a": 1, "b": None}, "input.b: Input should be a valid number"),
        ([1, 2], "input: Input should be a valid dictionary"),
    ],
)
def test_bad_tabular_inputs_are_refused(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        table.validate_input(value, index=0)
    assert str(caught.value) == message


def test_outputs_are_checked_for_length_and_type() -> None:
    assert image.validate_outputs(np.array([1, 2]), 2) == ["1", "2"]
    assert table.validate_outputs(np.array([1.5]), 1) == [1.5]
    with pytest.raises(ModelOutputError, match="returned 1 outputs for 2 inputs"):
        table.validate_outputs([1.0], 2)
    with pytest.raises(ModelOutputError, match="expected a finite number"):
        table.validate_outputs([math.nan], 1)
    with pytest.raises(ModelOutputError, match="expected a label string"):
        image.validate_outputs([1.5], 1)


def test_bad_task_options_are_refused() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        TabularRegression.from_manifest({"features": ["a b"]})


def test_text_that_postgresql_cannot_store_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"label: must not contain NUL"):
        image.validate_label("a\x00b")
    assert image.validate_label("  7 ") == "7"


def test_numbers_outside_the_declared_range_are_refused() -> None:
    bounded = ImageClassification.from_manifest({"min_value": 0, "max_value": 16})
    with pytest.raises(InvalidInputError, match=r"input\[0\]\[1\]: Input should be less than or equal to 16"):
        bounded.validate_input([[0, 17]])
    with pytest.raises(InvalidInputError, match=r"input.a: Input should be greater than or equal to -1000000000"):
        table.validate_input({"a": -1e12, "b": 0})
