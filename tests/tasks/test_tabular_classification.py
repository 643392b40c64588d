"""tabular_classification: named features in declared ranges, declared class names, and their stored matrix."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import psycopg2
import psycopg2.extras
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlseam.errors import InvalidInputError, ManifestError, ModelOutputError
from mlseam.examples import InMemoryExamplesStore, LabelledExample
from mlseam.examples.matrix import decode_labels
from mlseam.manifest import load_service
from mlseam.serving.predict import _checked_inputs, _fast_inputs
from mlseam.serving.problems import invalid_input_from
from mlseam.serving.schemas import build_schemas
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores
from mlseam.tasks import TASK_KINDS, TabularClassification

SERVICES = REPO_ROOT / "services"
MAX_ITEMS = 5

kind = TabularClassification.from_manifest(
    {
        "features": [{"name": "acidity", "min": 0, "max": 14}, "sugar", {"name": "age", "max": 50}],
        "labels": ["red", "white", "rosé"],
        "max_abs": 1000,
    }
)
GOOD = {"acidity": 3.5, "sugar": 2, "age": 4}


def test_inputs_become_rows_in_manifest_order_and_labels_text() -> None:
    assert TASK_KINDS["tabular_classification"] is TabularClassification
    assert kind.validate_input({"age": 4, "sugar": 2, "acidity": 3.5}) == [3.5, 2.0, 4.0]
    assert kind.to_batch([[3.5, 2.0, 4.0]]).dtype == np.float64 and kind.to_batch([]).shape == (0, 3)
    assert kind.validate_label(" rosé ") == "rosé"
    labels = kind.label_array(["red", "white"])
    assert labels.tolist() == ["red", "white"] and labels.astype(str).dtype.kind == "U"
    assert (kind.output_field, kind.has_probabilities, kind.needs_label_variety) == ("label", True, True)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"features": ["a"]}, "Field required"),
        ({"features": ["a"], "labels": ["yes"]}, "List should have at least 2 items"),
        ({"features": ["a"], "labels": ["yes", " yes "]}, "labels must be unique"),
        ({"features": ["a"], "labels": ["yes", " "]}, "String should have at least 1 character"),
        ({"features": ["a"], "labels": [0, 1]}, 'a label is text: quote it in service.yaml ("0", not 0)'),
        ({"features": ["a"], "labels": "yes,no"}, "Input should be a valid list"),
        ({"features": ["a"], "labels": ["a", "b"], "label": {"min": 0}}, "Extra inputs are not permitted"),
        ({"features": [{"name": "a", "min": 1, "max": 0}], "labels": ["a", "b"]}, "min 1.0 must be below max 0.0"),
        ({"features": ["a", "a"], "labels": ["a", "b"]}, "feature names must be unique"),
        ({"features": ["a b"], "labels": ["a", "b"]}, "must be a plain identifier"),
    ],
)
def test_impossible_options_are_refused(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        TabularClassification.from_manifest(inputs)
    assert message in str(caught.value)


def test_a_manifest_with_numbers_for_labels_is_refused_saying_how_to_quote_them(services_dir: Path) -> None:
    folder = services_dir / "wine"
    folder.mkdir()
    for name in ("model.py", "seed.py"):
        (folder / name).write_text((SERVICES / "wine" / name).read_text())
    manifest = (SERVICES / "wine" / "service.yaml").read_text().replace('["0", "1", "2"]', "[0, 1, 2]")
    (folder / "service.yaml").write_text(manifest)
    with pytest.raises(ManifestError, match=r'inputs.labels.*quote it in service.yaml \("0", not 0\)'):
        load_service("wine", services_dir)


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"acidity": 3, "sugar": 2}, "input.age", "Field required"),
        ({**GOOD, "colour": 1}, "input.colour", "Extra inputs are not permitted"),
        ({**GOOD, "acidity": 14.5}, "input.acidity", "Input should be less than or equal to 14"),
        ({**GOOD, "age": -1001}, "input.age", "Input should be greater than or equal to -1000"),
        ({**GOOD, "sugar": 1001}, "input.sugar", "Input should be less than or equal to 1000"),
        ({**GOOD, "sugar": math.nan}, "input.sugar", "Input should be a finite number"),
        ({**GOOD, "sugar": True}, "input.sugar", "Input should be a valid number"),
        ({**GOOD, "sugar": "2"}, "input.sugar", "Input should be a valid number"),
        ([3.5, 2, 4], "input", "Input should be a valid dictionary"),
    ],
)
def test_a_bad_input_is_refused_naming_the_field(value: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        kind.validate_input(value, index=3)
    assert (caught.value.index, caught.value.field, str(caught.value)) == (3, field, f"{field}: {message}")


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("orange", "label: 'orange' is not one of the labels in service.yaml ('red', 'white', 'rosé')"),
        ("Red", "label: 'Red' is not one of the labels in service.yaml ('red', 'white', 'rosé')"),
        (1, "label: Input should be a valid string"),
        (None, "label: Input should be a valid string"),
    ],
)
def test_a_label_outside_the_declared_ones_is_refused_naming_them(label: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        kind.validate_label(label, index=1)
    assert str(caught.value) == message and caught.value.index == 1


def test_predictions_must_be_declared_labels() -> None:
    assert kind.validate_outputs(np.array(["white", "red"]), 2) == ["white", "red"]
    with pytest.raises(ModelOutputError, match=r"^predict output 1: 'pink' is not one of the labels in service.yaml"):
        kind.validate_outputs(["red", "pink"], 2)
    with pytest.raises(ModelOutputError, match="expected a label string, got bool"):
        kind.validate_outputs([True], 1)
    numbered = TabularClassification.from_manifest({"features": ["a"], "labels": ["0", "1"]})
    assert numbered.validate_outputs(np.array([1, 0]), 2) == ["1", "0"]


def _wine() -> Any:
    service = load_service("wine", SERVICES)
    return SimpleNamespace(
        service=service, settings=SimpleNamespace(max_items=MAX_ITEMS), schemas=build_schemas(service, MAX_ITEMS)
    )


WINE = _wine()
WINE_FEATURES: list[str] = WINE.service.kind.features
WINE_ROW = dict.fromkeys(WINE_FEATURES, 1.0) | {"alcohol": 13.0, "proline": 700.0}


def test_the_wine_schema_shows_ranges_and_labels_and_its_422s_name_the_item_and_field() -> None:
    schema = WINE.schemas.examples_request.json_schema()
    example = schema["$defs"]["WineExample"]
    features = schema["$defs"][example["properties"]["input"]["$ref"].rsplit("/", 1)[1]]
    assert features["properties"]["alcohol"]["minimum"] == 8 and features["properties"]["alcohol"]["maximum"] == 18
    assert sorted(features["required"]) == sorted(WINE_FEATURES) and features["additionalProperties"] is False
    assert example["properties"]["label"]["enum"] == ["0", "1", "2"]

    body = {"examples": [{"input": WINE_ROW, "label": "1"}, {"input": WINE_ROW, "label": "3"}]}
    with pytest.raises(pydantic.ValidationError) as caught:
        WINE.schemas.examples_request.validate_json(orjson.dumps(body))
    error = invalid_input_from(caught.value, "examples")
    assert (error.field, error.index) == ("examples[1].label", 1)
    assert str(error) == "examples[1].label: '3' is not one of the labels in service.yaml ('0', '1', '2')"

    inputs = {"inputs": [WINE_ROW] * 3 + [{**WINE_ROW, "alcohol": 40}]}
    with pytest.raises(pydantic.ValidationError) as caught:
        WINE.schemas.predict_request.validate_json(orjson.dumps(inputs))
    error = invalid_input_from(caught.value, "inputs")
    assert str(error) == "inputs[3].alcohol: Input should be less than or equal to 18"


numbers = st.one_of(
    st.floats(min_value=0.0, max_value=20.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
)
odd = st.one_of(st.booleans(), st.none(), st.text(max_size=3), st.just([]), st.just({}), st.sampled_from([-0.01, 3001]))


@st.composite
def wine_rows(draw: st.DrawFn) -> Any:
    row = dict(WINE_ROW)
    for _ in range(draw(st.integers(0, 2))):
        row[draw(st.sampled_from(WINE_FEATURES))] = draw(st.one_of(numbers, odd))
    shape = draw(st.sampled_from(["all"] * 8 + ["missing", "extra", "list"]))
    if shape == "missing":
        row.pop(draw(st.sampled_from(WINE_FEATURES)))
    elif shape == "extra":
        row["vintage"] = 1990
    return list(row.values()) if shape == "list" else row


bodies = st.one_of(
    st.lists(wine_rows(), min_size=0, max_size=MAX_ITEMS + 1).map(lambda rows: {"inputs": rows}),
    st.lists(wine_rows(), min_size=1, max_size=2).map(lambda rows: {"inputs": rows, "more": 1}),
).map(lambda doc: json.dumps(doc).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_the_fast_path_never_accepts_what_validation_refuses(body: bytes) -> None:
    fast = _fast_inputs(WINE, body)
    if fast is None:
        return
    checked = _checked_inputs(WINE, body)  # raises InvalidInputError had the fast path let a bad body through
    assert np.array_equal(np.asarray(fast, dtype=np.float64), np.asarray(checked, dtype=np.float64))


def test_a_well_formed_wine_body_takes_the_fast_path() -> None:
    assert _fast_inputs(WINE, orjson.dumps({"inputs": [WINE_ROW, WINE_ROW]})) is not None


def test_matrix_codes_decode_to_the_declared_labels() -> None:
    codes = np.array([2.0, 0.0, 1.0])
    assert decode_labels(codes, ["red", "white", "rosé"]).tolist() == ["rosé", "red", "white"]
    assert decode_labels(codes, None) is codes
    assert kind.matrix_bounds().label == (0.0, 2.0) and kind.matrix_classes() == ["red", "white", "rosé"]


def _examples(count: int, seed: int) -> list[LabelledExample]:
    rng = np.random.default_rng(seed)
    return [
        LabelledExample(
            input={"acidity": rng.uniform(0, 14), "sugar": rng.normal(), "age": rng.uniform(0, 50)},
            label=str(rng.choice(kind.labels)),
        )
        for _ in range(count)
    ]


MALFORMED: list[tuple[Any, Any, dict[str, Any]]] = [
    (GOOD, "orange", {}),  # an undeclared label
    (GOOD, "Red", {}),  # labels are matched exactly
    ({"acidity": 3, "sugar": 2}, "red", {}),  # a missing feature
    ({**GOOD, "colour": 1}, "red", {}),  # an unknown feature
    ({**GOOD, "sugar": "two"}, "red", {}),  # a string value
    ({**GOOD, "acidity": 15}, "red", {}),  # outside the declared range
    (GOOD, "white", {"features": [3.5, 2.0, 99.0]}),  # a stored vector outside the range of age
    ([3.5, 2, 4], "white", {}),  # not an object
]


def _raw_insert(settings: Settings, service: str, input_json: Any, label: Any, columns: dict[str, Any]) -> None:
    """Insert a row as a writer other than the store could, bypassing validation."""
    if "features" in columns:
        columns = {**columns, "features_key": kind.features_key}
    names = ", ".join(["service", "external_id", "input", "label", "source", *columns])
    marks = ", ".join(["%s"] * (5 + len(columns)))
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {kind.table} ({names}) VALUES ({marks})",
            (service, uuid.uuid4().hex, psycopg2.extras.Json(input_json), label, "raw", *columns.values()),
        )
    conn.close()


def test_the_store_reads_text_labels_through_the_matrix_and_skips_malformed_rows(
    settings: Settings, stores: Stores
) -> None:
    # given: valid examples, then rows a faulty writer could leave behind, then more valid ones
    service = f"wine-{uuid.uuid4().hex[:8]}"
    first, last = _examples(30, seed=1), _examples(20, seed=2)
    assert stores.examples.add(service, kind, first, source="test").new == 30
    for input_json, label, columns in MALFORMED:
        _raw_insert(settings, service, input_json, label, columns)
    assert stores.examples.add(service, kind, last, source="test").new == 20
    # when
    seen: list[int] = []
    read = stores.examples.read(service, kind, progress=seen.append)
    # then: the valid rows in id order, labels as the declared text, every bad row counted
    expected = first + last
    assert read.malformed == len(MALFORMED) and len(read.examples) == 50 and seen[-1] == 58
    assert read.examples.inputs.tolist() == [kind.validate_input(e.input) for e in expected]
    assert read.examples.labels.tolist() == [e.label for e in expected]
    assert read.examples.labels.dtype == object and np.all(np.diff(read.examples.ids) > 0)
    assert read.watermark == read.examples.ids[-1]
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT features, features_key FROM {kind.table} WHERE service = %s ORDER BY id", (service,))
        assert cur.fetchone() == (kind.validate_input(first[0].input), kind.features_key)
    conn.close()


def test_the_in_memory_store_skips_the_same_rows() -> None:
    store = InMemoryExamplesStore()
    store.add("wine", kind, _examples(5, seed=3), source="test")
    for input_json, label, columns in MALFORMED:
        if not columns:  # the in-memory store keeps the JSON only
            store.add_raw("wine", input_json, label)
    read = store.read("wine", kind)
    assert len(read.examples) == 5 and read.malformed == len([m for m in MALFORMED if not m[2]])
