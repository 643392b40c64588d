"""The ocr task kind: strips of variable width, text labels, and messages that say what to fix."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pydantic
import pytest

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.manifest import load_service
from mlseam.serving.schemas import build_schemas
from mlseam.settings import REPO_ROOT
from mlseam.tasks import TASK_KINDS, Ocr

OPTIONS = {"height": 3, "min_width": 4, "max_width": 6, "min_value": 0, "max_value": 16, "max_length": 5}
ocr = Ocr.from_manifest({**OPTIONS, "alphabet": "0123456789"})
STRIP = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 16]]


def _with(row: int, column: int, value: Any) -> list[list[Any]]:
    strip: list[list[Any]] = [list(r) for r in STRIP]
    strip[row][column] = value
    return strip


def test_ocr_is_a_registered_task_kind() -> None:
    assert TASK_KINDS["ocr"] is Ocr and Ocr.table == "ocr_examples" and Ocr.output_field == "text"


def test_a_strip_becomes_a_float_array_and_back() -> None:
    value = ocr.validate_input(STRIP)
    assert isinstance(value, np.ndarray) and value.shape == (3, 5) and value.dtype == np.float64
    stored = ocr.input_to_json(value)
    assert stored == STRIP and orjson.loads(orjson.dumps(stored)) == STRIP
    assert np.array_equal(ocr.validate_input(stored), value)


def test_strips_of_different_widths_make_one_batch() -> None:
    narrow, wide = ocr.validate_input([row[:4] for row in STRIP]), ocr.validate_input([[*row, 0] for row in STRIP])
    batch = ocr.to_batch([narrow, wide])
    assert isinstance(batch, list) and [strip.shape for strip in batch] == [(3, 4), (3, 6)]
    labels = ocr.label_array(["0042", "7"])
    assert labels.dtype == object and labels.tolist() == ["0042", "7"]


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        (
            [STRIP[0], STRIP[1], STRIP[2][:4]],
            "input",
            "row 2 has 4 values but row 0 has 5; every row of a strip must be equally wide",
        ),
        (
            STRIP[:2],
            "input",
            "has a height of 2; a strip is exactly 3 rows high: scale it or pad it with blank rows to 3",
        ),
        ([*STRIP, STRIP[0]], "input", "has a height of 4; a strip is exactly 3 rows high"),
        ([row[:3] for row in STRIP], "input", "has a width of 3; a strip is 4 to 6 columns wide: pad it with blank"),
        (
            [[*row, 0, 0] for row in STRIP],
            "input",
            "has a width of 7; a strip is 4 to 6 columns wide: crop its margins",
        ),
        ([[], [], []], "input", "has a width of 0; a strip is 4 to 6 columns wide"),
        (_with(1, 2, math.nan), "input[1][2]", "Input should be a finite number"),
        (_with(1, 2, math.inf), "input[1][2]", "Input should be a finite number"),
        (_with(0, 4, 17), "input[0][4]", "Input should be less than or equal to 16"),
        (_with(2, 0, -1), "input[2][0]", "Input should be greater than or equal to 0"),
        (_with(0, 1, "1"), "input[0][1]", "Input should be a valid number"),
        (_with(0, 1, True), "input[0][1]", "Input should be a valid number"),
        (_with(0, 1, None), "input[0][1]", "Input should be a valid number"),
        ("1250", "input", "Input should be a valid list"),
    ],
)
def test_bad_strips_name_index_field_and_what_to_fix(value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ocr.validate_input(value, index=2)
    assert caught.value.index == 2 and caught.value.field == field
    assert str(caught.value).startswith(f"{field}: {message}")
    # the vectorised path never accepts what item-by-item validation refuses
    assert ocr.fast_inputs([value], orjson.dumps({"inputs": [value]}, option=orjson.OPT_SERIALIZE_NUMPY)) is None


def test_the_fast_path_reads_valid_strips_as_validation_does() -> None:
    strips = [STRIP, [row[:4] for row in STRIP], [[float(v) / 2 for v in row] for row in STRIP]]
    fast = ocr.fast_inputs(strips, orjson.dumps({"inputs": strips}))
    assert fast is not None
    assert all(np.array_equal(a, ocr.validate_input(s)) for a, s in zip(fast, strips, strict=True))


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "String should have at least 1 character"),
        ("   ", "String should have at least 1 character"),
        ("123456", "String should have at most 5 characters"),
        ("12.50", "'.' not in the alphabet '0123456789'; label the text with those characters only"),
        ("1O0", "'O' not in the alphabet"),
        (1250, "Input should be a valid string"),
        (None, "Input should be a valid string"),
        ("1\x002", "must not contain NUL"),
    ],
)
def test_bad_labels_say_what_to_fix(label: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ocr.validate_label(label, index=0)
    assert caught.value.field == "label" and str(caught.value).startswith(f"label: {message}")


def test_labels_are_text_kept_as_written() -> None:
    assert ocr.validate_label("0042") == "0042"
    free = Ocr.from_manifest({"height": 3})
    assert free.validate_label(" Total: 12,50 € ") == "Total: 12,50 €"


def test_outputs_are_strings() -> None:
    assert ocr.validate_outputs(["1250", np.str_("7"), ""], 3) == ["1250", "7", ""]
    with pytest.raises(ModelOutputError, match=r"predict output 0: expected the text as a string, got int"):
        ocr.validate_outputs([1250], 1)
    with pytest.raises(ModelOutputError, match="returned 1 outputs for 2 inputs"):
        ocr.validate_outputs(["1"], 2)


def test_the_warm_up_input_is_a_valid_blank_strip() -> None:
    sample = ocr.sample_input()
    assert sample.shape == (3, 4) and not sample.any()
    assert np.array_equal(ocr.validate_input(sample.tolist()), sample)
    shifted = Ocr.from_manifest({"height": 2, "min_value": 5, "max_value": 9})
    assert shifted.validate_input(shifted.sample_input().tolist()).min() == 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "height"),
        ({"height": 3, "min_width": 9, "max_width": 4}, "min_width 9 exceeds max_width 4"),
        ({"height": 3, "min_value": 1, "max_value": 1}, "min_value 1.0 must be below max_value 1.0"),
        ({"height": 3, "alphabet": "0120"}, "holds a character twice"),
        ({"height": 3, "colour": "red"}, "colour"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Ocr.from_manifest(options)


def _schemas_without_a_type(schema: Any, components: dict[str, Any], path: str = "") -> list[str]:
    """Paths of sub-schemas that accept anything (pydantic's ``Any`` is ``{}``)."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return _schemas_without_a_type(components[schema["$ref"].split("/")[-1]], components, path)
    if not {"type", "anyOf", "oneOf", "allOf", "const", "enum"} & schema.keys():
        return [path or "(root)"]
    found: list[str] = []
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _schemas_without_a_type(schema[key], components, f"{path}.{key}")
    for name, sub in schema.get("properties", {}).items():
        found += _schemas_without_a_type(sub, components, f"{path}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key, [])):
            found += _schemas_without_a_type(sub, components, f"{path}.{key}[{i}]")
    return found


def test_the_openapi_schema_is_the_real_type() -> None:
    service = load_service("amounts", REPO_ROOT / "services")
    schemas = build_schemas(service, max_items=10)
    for model in (schemas.predict_request_model, schemas.examples_request_model, schemas.predict_response_model):
        schema = model.model_json_schema()
        assert _schemas_without_a_type(schema, schema.get("$defs", {})) == [], model.__name__
    predict = schemas.predict_request_model.model_json_schema()
    strip = predict["properties"]["inputs"]["items"]
    assert strip["type"] == "array" and strip["minItems"] == strip["maxItems"] == 8
    assert strip["items"]["type"] == "array" and (strip["items"]["minItems"], strip["items"]["maxItems"]) == (2, 256)
    assert strip["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 16}
    response = schemas.predict_response_model.model_json_schema()
    output = response["$defs"][response["properties"]["outputs"]["items"]["$ref"].split("/")[-1]]
    assert output["properties"]["text"] == {"title": "Text", "type": "string"}
    assert set(output["properties"]) == set(output["required"]) == {"text", "prediction_id"}
    examples = schemas.examples_request_model.model_json_schema()
    label = examples["$defs"][_by_input(examples["properties"]["examples"]["items"]).split("/")[-1]]["properties"][
        "label"
    ]
    assert label["type"] == "string" and label["maxLength"] == 12


def _by_input(items: dict[str, Any]) -> str:
    """The ``$ref`` of an example sent with its input (the other form labels a logged prediction)."""
    refs = [form["$ref"] for form in items["oneOf"]]
    assert len(refs) == 2 and refs[1].endswith("LabelledPrediction"), refs
    return str(refs[0])
