"""The PostgreSQL examples store on the real server: idempotent adds, streaming reads."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extras
import pytest

from builders import FEATURES, linear_examples
from mlseam.errors import InvalidInputError
from mlseam.examples import LabelledExample
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.tasks import ImageClassification, TabularRegression

table = TabularRegression.from_manifest({"features": FEATURES})
image = ImageClassification.from_manifest({"height": 2, "width": 2})


@pytest.fixture
def service() -> str:
    return f"store-{uuid.uuid4().hex[:8]}"


def _raw_insert(settings: Settings, task_table: str, service: str, input_json: Any, label: Any) -> None:
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {task_table} (service, external_id, input, label, source) VALUES (%s, %s, %s, %s, 'raw')",
            (service, uuid.uuid4().hex, psycopg2.extras.Json(input_json), label),
        )
    conn.close()


def test_adding_twice_stores_once(stores: Stores, service: str) -> None:
    rows = linear_examples(30, seed=3)
    assert stores.examples.add(service, table, rows, source="test") == 30
    assert stores.examples.add(service, table, rows, source="test") == 0
    assert stores.examples.stats(service, table).count == 30


def test_external_ids_make_resending_harmless(stores: Stores, service: str) -> None:
    first = [LabelledExample(input=[[1, 2], [3, 4]], label="a", external_id="receipt-1")]
    again = [LabelledExample(input=[[9, 9], [9, 9]], label="b", external_id="receipt-1")]
    assert stores.examples.add(service, image, first, source="api") == 1
    assert stores.examples.add(service, image, again, source="api") == 0
    read = stores.examples.read(service, image)
    assert read.examples.labels.tolist() == ["a"]


def test_one_bad_example_writes_nothing(stores: Stores, service: str) -> None:
    rows = [*linear_examples(5, seed=4), LabelledExample(input={"x1": 1, "x2": 2}, label=1.0)]
    with pytest.raises(InvalidInputError) as caught:
        stores.examples.add(service, table, rows, source="test")
    assert caught.value.index == 5 and "missing feature(s) x3" in str(caught.value)
    assert stores.examples.stats(service, table).count == 0


def test_a_tabular_read_returns_the_matrix_in_id_order(stores: Stores, service: str) -> None:
    rows = linear_examples(2500, seed=5)
    stores.examples.add(service, table, rows, source="test")
    seen: list[int] = []
    read = stores.examples.read(service, table, progress=seen.append)
    expected = np.array([[r.input[f] for f in FEATURES] for r in rows])
    assert read.examples.inputs.shape == (2500, 3)
    assert np.array_equal(read.examples.inputs, expected)
    assert np.array_equal(read.examples.labels, np.array([r.label for r in rows]))
    assert np.all(np.diff(read.examples.ids) > 0) and read.watermark == read.examples.ids[-1]
    assert read.malformed == 0 and seen and seen[-1] == 2500


def test_malformed_tabular_rows_are_skipped_and_counted(settings: Settings, stores: Stores, service: str) -> None:
    # given: valid rows plus rows a faulty writer could leave behind
    stores.examples.add(service, table, linear_examples(10, seed=6), source="test")
    for bad_input, label in [
        ({"x1": 1, "x2": 2}, 1.0),  # missing feature
        ({"x1": 1, "x2": 2, "x3": "three"}, 1.0),  # string value
        ({"x1": 1, "x2": 2, "x3": 3, "x4": 4}, 1.0),  # unknown feature
        ([1, 2, 3], 1.0),  # not an object
        ({"x1": 1, "x2": 2, "x3": 3}, math.inf),  # infinite target
        ({"x1": 1, "x2": 2, "x3": 3}, math.nan),  # NaN target
    ]:
        _raw_insert(settings, table.table, service, bad_input, label)
    # when
    read = stores.examples.read(service, table)
    # then
    assert len(read.examples) == 10 and read.malformed == 6
    assert np.isfinite(read.examples.inputs).all()


def test_malformed_image_rows_are_skipped_and_counted(settings: Settings, stores: Stores, service: str) -> None:
    stores.examples.add(service, image, [LabelledExample(input=[[1, 2], [3, 4]], label="a")], source="test")
    _raw_insert(settings, image.table, service, [[1, 2], [3]], "b")
    _raw_insert(settings, image.table, service, [[1, 2, 3], [3, 4, 5]], "c")
    _raw_insert(settings, image.table, service, [[1, 2], [3, 4]], "")
    read = stores.examples.read(service, image)
    assert read.examples.labels.tolist() == ["a"] and read.malformed == 3


def test_services_do_not_see_each_other(stores: Stores, service: str) -> None:
    stores.examples.add(service, table, linear_examples(3, seed=7), source="test")
    assert stores.examples.stats(service + "-other", table).count == 0
    assert len(stores.examples.read(service + "-other", table).examples) == 0
