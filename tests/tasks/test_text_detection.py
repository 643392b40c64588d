"""The text_detection task kind: images of bounded size, box labels inside them, box outputs, and what to fix."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.examples import InMemoryExamplesStore, LabelledExample
from mlseam.manifest import load_service
from mlseam.runtime import UnusableOutput, predict_outputs
from mlseam.serving.schemas import build_schemas
from mlseam.settings import REPO_ROOT
from mlseam.tasks import TASK_KINDS, TextDetection

OPTIONS = {"min_height": 2, "max_height": 4, "min_width": 3, "max_width": 5, "min_value": 0, "max_value": 16}
kind = TextDetection.from_manifest({**OPTIONS, "max_boxes": 3})
IMAGE = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 16]]
BOX = {"x": 1, "y": 0, "width": 2, "height": 3}


def _with(row: int, column: int, value: Any) -> list[list[Any]]:
    image: list[list[Any]] = [list(r) for r in IMAGE]
    image[row][column] = value
    return image


def test_text_detection_is_a_registered_task_kind_with_json_labels() -> None:
    assert TASK_KINDS["text_detection"] is TextDetection
    assert TextDetection.table == "text_detection_examples" and TextDetection.output_field == "boxes"
    assert TextDetection.label_is_json


def test_an_image_becomes_a_float_array_and_back() -> None:
    value = kind.validate_input(IMAGE)
    assert value.shape == (3, 4) and value.dtype == np.float64
    assert kind.input_to_json(value) == IMAGE and np.array_equal(kind.validate_input(kind.input_to_json(value)), value)


def test_labels_are_lists_of_boxes_and_become_an_object_array() -> None:
    assert kind.validate_label([BOX]) == [BOX] and kind.validate_label([]) == []
    labels = kind.label_array([[BOX], [BOX]])
    assert labels.dtype == object and labels.shape == (2,) and labels[0] == [BOX]


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (IMAGE[:1], "input", "has 1 rows; an image has 2 to 4 rows: scale, crop or pad it to fit"),
        ([*IMAGE, IMAGE[0], IMAGE[0]], "input", "has 5 rows; an image has 2 to 4 rows"),
        ([IMAGE[0], IMAGE[1][:3], IMAGE[2]], "input", "row 1 has 3 values but row 0 has 4; every row must be equally"),
        ([row[:2] for row in IMAGE], "input", "has 2 columns; an image has 3 to 5 columns: scale, crop or pad it"),
        ([[*row, 0, 0] for row in IMAGE], "input", "has 6 columns; an image has 3 to 5 columns"),
        ([[], []], "input", "has 0 columns"),
        (_with(1, 2, math.nan), "input[1][2]", "Input should be a finite number"),
        (_with(1, 2, math.inf), "input[1][2]", "Input should be a finite number"),
        (_with(0, 3, 17), "input[0][3]", "Input should be less than or equal to 16"),
        (_with(2, 0, -1), "input[2][0]", "Input should be greater than or equal to 0"),
        (_with(0, 1, "1"), "input[0][1]", "Input should be a valid number"),
        (_with(0, 1, True), "input[0][1]", "Input should be a valid number"),
        (_with(0, 1, None), "input[0][1]", "Input should be a valid number"),
        ({"rows": IMAGE}, "input", "Input should be a valid list"),
    ],
)
def test_bad_images_name_index_field_and_what_to_fix(value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        kind.validate_input(value, index=2)
    assert caught.value.index == 2 and caught.value.field == field
    assert str(caught.value).startswith(f"{field}: {message}")
    # neither fast path accepts what item-by-item validation refuses (json writes NaN and Infinity tokens)
    values = [IMAGE, value]
    assert kind.fast_body(json.dumps({"inputs": values}).encode(), 10) is None
    assert kind.fast_inputs(values, orjson.dumps({"inputs": values})) is None


def test_too_many_pixels_are_refused_with_the_limit() -> None:
    small = TextDetection.from_manifest({**OPTIONS, "max_pixels": 10})
    with pytest.raises(InvalidInputError, match="has 12 pixels, more than the limit of 10; scale it down or split it"):
        small.validate_input(IMAGE)
    assert small.fast_body(orjson.dumps({"inputs": [IMAGE]}), 10) is None


@pytest.mark.parametrize(
    ("label", "field", "message"),
    [
        ([BOX, {**BOX, "width": 0}], "label[1].width", "Input should be greater than or equal to 1"),
        ([{**BOX, "x": -1}], "label[0].x", "Input should be greater than or equal to 0"),
        ([{**BOX, "y": "0"}], "label[0].y", "Input should be a valid integer"),
        ([{**BOX, "height": 1.5}], "label[0].height", "Input should be a valid integer"),
        ([{**BOX, "height": True}], "label[0].height", "Input should be a valid integer"),
        ([{k: v for k, v in BOX.items() if k != "height"}], "label[0].height", "Field required"),
        ([{**BOX, "score": 0.5}], "label[0].score", "Extra inputs are not permitted"),
        ([BOX] * 4, "label", "List should have at most 3 items"),
        (BOX, "label", "Input should be a valid list"),
        (None, "label", "Input should be a valid list"),
    ],
)
def test_bad_labels_name_the_box_and_field(label: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        kind.validate_label(label, index=4)
    assert caught.value.index == 4 and caught.value.field == field
    assert str(caught.value).startswith(f"{field}: {message}")


@pytest.mark.parametrize(
    ("box", "field", "message"),
    [
        ({**BOX, "width": 4}, "label[1].width", "the box spans columns 1 to 4, outside the image's 4 columns (0 to 3)"),
        ({**BOX, "x": 4, "width": 1}, "label[1].x", "the box spans columns 4 to 4, outside the image's 4 columns"),
        ({**BOX, "y": 1}, "label[1].height", "the box spans rows 1 to 3, outside the image's 3 rows (0 to 2)"),
        ({**BOX, "y": 3, "height": 1}, "label[1].y", "the box spans rows 3 to 3"),
    ],
)
def test_a_box_outside_its_image_is_refused_saying_so(box: dict[str, int], field: str, message: str) -> None:
    store = InMemoryExamplesStore()
    with pytest.raises(InvalidInputError) as caught:
        store.add("s", kind, [LabelledExample(IMAGE, [BOX]), LabelledExample(IMAGE, [BOX, box])], source="t")
    assert caught.value.index == 1 and caught.value.field == field
    assert str(caught.value) == f"{field}: {message}" + str(caught.value).split(message, 1)[1]
    assert "boxes must lie inside the image" in str(caught.value) and store.rows == {}


def test_stored_labels_read_back_and_rows_whose_boxes_left_the_image_are_counted() -> None:
    store = InMemoryExamplesStore()
    store.add("s", kind, [LabelledExample(IMAGE, [BOX]), LabelledExample(IMAGE, [])], source="t")
    store.add_raw("s", IMAGE, [{**BOX, "width": 9}])
    store.add_raw("s", IMAGE, [{"x": 0}])
    read = store.read("s", kind)
    assert read.examples.labels.tolist() == [[BOX], []] and read.malformed == 2


@pytest.mark.parametrize(
    "bodies",
    [
        [IMAGE],
        [IMAGE, [row[:3] for row in IMAGE], [[0.5] * 5] * 4],
        [[[float(v) / 3 for v in row] for row in IMAGE]] * 3,
    ],
)
def test_both_fast_paths_read_valid_images_as_validation_does(bodies: list[Any]) -> None:
    body = orjson.dumps({"inputs": bodies})
    expected = [kind.validate_input(image) for image in bodies]
    for fast in (kind.fast_body(body, 10), kind.fast_inputs(bodies, body)):
        assert fast is not None and all(np.array_equal(a, b) for a, b in zip(fast, expected, strict=True))
    assert kind.fast_body(body, len(bodies) - 1) is None if len(bodies) > 1 else True


_values = st.one_of(
    st.integers(-2, 18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1", True, None, [], {}]),
)
_rows = st.lists(st.lists(_values, min_size=0, max_size=6), min_size=0, max_size=5)


@settings(max_examples=300, deadline=None)
@given(images=st.lists(_rows, min_size=1, max_size=3))
def test_the_fast_paths_never_accept_what_validation_refuses(images: list[Any]) -> None:
    try:
        expected = [kind.validate_input(image) for image in images]
    except InvalidInputError:
        expected = None
    for fast in (
        kind.fast_body(json.dumps({"inputs": images}).encode(), 10),
        kind.fast_inputs(images, orjson.dumps({"inputs": images})),
    ):
        if expected is None:
            assert fast is None
        elif fast is not None:
            assert all(np.array_equal(a, b) for a, b in zip(fast, expected, strict=True))


def test_outputs_are_lists_of_well_formed_boxes() -> None:
    good = [{"x": np.int64(1), "y": 0, "width": 2.0, "height": 3, "score": np.float32(0.25)}]
    assert kind.validate_outputs([good, []], 2) == [[{"x": 1, "y": 0, "width": 2, "height": 3, "score": 0.25}], []]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"boxes": []}, "predict output 0: expected a list of boxes, got dict"),
        ("box", "predict output 0: expected a list of boxes, got str"),
        ([{**BOX}], "predict output 0, box 0: expected a dict with exactly x, y, width, height and score, got keys"),
        ([[1, 0, 2, 3, 0.5]], "box 0: expected a dict with exactly x, y, width, height and score, got list"),
        ([{**BOX, "score": 0.5, "x": 1.5}], "box 0: x is 1.5; give whole pixels"),
        ([{**BOX, "score": 0.5, "width": 0}], "box 0: width is 0; x and y are at least 0, width and height 1"),
        ([{**BOX, "score": 0.5, "y": -2}], "box 0: y is -2"),
        ([{**BOX, "score": 1.5}], "box 0: score is 1.5; give the box's confidence as a number from 0 to 1"),
        ([{**BOX, "score": "high"}], "box 0: score is 'high'"),
    ],
)
def test_malformed_outputs_say_what_to_fix(output: Any, message: str) -> None:
    with pytest.raises(ModelOutputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        kind.validate_outputs([output], 1)


def test_a_non_finite_score_makes_only_that_output_unusable() -> None:
    class Boxes:
        def predict(self, inputs: list[np.ndarray]) -> list[Any]:
            return [[{**BOX, "score": 0.5}], [{**BOX, "score": math.nan}]]

    service = load_service("receipts", REPO_ROOT / "services")
    outputs = predict_outputs(service, Boxes(), [kind.validate_input(IMAGE)] * 2)  # type: ignore[arg-type]
    assert outputs[0] == {"boxes": [{**BOX, "score": 0.5}]}
    assert isinstance(outputs[1], UnusableOutput) and math.isnan(outputs[1].value)  # type: ignore[arg-type]
    assert orjson.loads(orjson.dumps(outputs[0])) == outputs[0]


def test_the_warm_up_input_is_a_valid_blank_image() -> None:
    sample = kind.sample_input()
    assert not sample.any() and np.array_equal(kind.validate_input(sample.tolist()), sample)
    tiny = TextDetection.from_manifest({"max_pixels": 100})
    assert tiny.validate_input(tiny.sample_input().tolist()).size <= 100
    fixed = TextDetection.from_manifest({"height": 7, "width": 9, "min_value": 2, "max_value": 3})
    assert fixed.sample_input().shape == (7, 9) and fixed.sample_input().min() == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"height": 8, "min_height": 4}, "set height .a fixed size. or min_height/max_height .a range., not both"),
        ({"min_width": 9, "max_width": 4}, "min_width 9 exceeds max_width 4; swap or widen them"),
        ({"min_value": 1, "max_value": 1}, "min_value 1.0 must be below max_value 1.0"),
        ({"max_boxes": 0}, "max_boxes"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        TextDetection.from_manifest(options)


def test_a_fixed_size_is_the_only_size_accepted() -> None:
    fixed = TextDetection.from_manifest({"height": 3, "width": 4})
    assert fixed.validate_input(IMAGE).shape == (3, 4)
    with pytest.raises(InvalidInputError, match="has 2 rows; an image has 3 rows"):
        fixed.validate_input(IMAGE[:2])


def test_the_openapi_schema_documents_images_labels_and_each_box() -> None:
    service = load_service("receipts", REPO_ROOT / "services")
    schemas = build_schemas(service, max_items=10)
    predict = schemas.predict_request_model.model_json_schema()
    image = predict["properties"]["inputs"]["items"]
    assert (image["minItems"], image["maxItems"], image["items"]["minItems"], image["items"]["maxItems"]) == (
        16,
        128,
        16,
        192,
    )
    assert image["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 16}
    response = schemas.predict_response_model.model_json_schema()
    defs = response["$defs"]
    output = defs[response["properties"]["outputs"]["items"]["$ref"].split("/")[-1]]
    box = defs[output["properties"]["boxes"]["items"]["$ref"].split("/")[-1]]
    assert set(box["required"]) == {"x", "y", "width", "height", "score"}
    assert box["properties"]["score"] == {"maximum": 1.0, "minimum": 0.0, "title": "Score", "type": "number"}
    assert box["properties"]["width"]["minimum"] == 1 and box["properties"]["x"]["type"] == "integer"
    examples = schemas.examples_request_model.model_json_schema()
    example = examples["$defs"][_by_input(examples["properties"]["examples"]["items"]).split("/")[-1]]
    label = example["properties"]["label"]
    assert label["type"] == "array" and label["maxItems"] == 50
    labelled = examples["$defs"][label["items"]["$ref"].split("/")[-1]]
    assert labelled["additionalProperties"] is False and set(labelled["required"]) == {"x", "y", "width", "height"}


def test_a_stored_image_is_read_back_from_its_json_text_as_validation_reads_it() -> None:
    # PostgreSQL writes jsonb with a space after each comma.
    text = "[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 16]]"
    assert np.array_equal(kind.read_stored_input(text), kind.validate_input(IMAGE))
    for bad, message in [
        ("[[0, 1, 2, 3], [4, 5, 6], [8, 9, 10, 16]]", "row 1 has 3 values"),
        ('[[0, 1, 2, 3], [4, "5", 6, 7], [8, 9, 10, 16]]', "Input should be a valid number"),
        ("[[0, 1, 2, 3], [4, 5, 6, 70], [8, 9, 10, 16]]", "less than or equal to 16"),
        ('{"x": 1}', "Input should be a valid list"),
        ("[[0, 1, 2, 99999999999999999999999]]", "input"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            kind.read_stored_input(bad)


def _by_input(items: dict[str, Any]) -> str:
    """The ``$ref`` of an example sent with its input (the other form labels a logged prediction)."""
    refs = [form["$ref"] for form in items["oneOf"]]
    assert len(refs) == 2 and refs[1].endswith("LabelledPrediction"), refs
    return str(refs[0])
