"""The PostgreSQL examples store on the real server: idempotent adds, streaming reads."""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extras
import pytest

from builders import FEATURES, linear_examples
from mlseam.errors import InvalidInputError
from mlseam.examples import LabelledExample, Selection, Stored
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.tasks import ImageClassification, TabularRegression, TextDetection

table = TabularRegression.from_manifest({"features": FEATURES})
image = ImageClassification.from_manifest({"height": 2, "width": 2})


@pytest.fixture
def service() -> str:
    return f"store-{uuid.uuid4().hex[:8]}"


def _raw_insert(settings: Settings, task_table: str, service: str, input_json: Any, label: Any, **columns: Any) -> None:
    """Insert a row as a writer other than the store could, bypassing validation."""
    names = ", ".join(["service", "external_id", "input", "label", "source", *columns])
    marks = ", ".join(["%s"] * (5 + len(columns)))
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f"INSERT INTO {task_table} ({names}) VALUES ({marks})",
            (service, uuid.uuid4().hex, psycopg2.extras.Json(input_json), label, "raw", *columns.values()),
        )
    conn.close()


def test_adding_twice_stores_once(stores: Stores, service: str) -> None:
    rows = linear_examples(30, seed=3)
    assert stores.examples.add(service, table, rows, source="test").new == 30
    assert stores.examples.add(service, table, rows, source="test").new == 0
    assert stores.examples.stats(service, table).count == 30


def test_external_ids_make_resending_with_the_same_label_harmless(stores: Stores, service: str) -> None:
    first = [LabelledExample(input=[[1, 2], [3, 4]], label="a", external_id="receipt-1")]
    again = [LabelledExample(input=[[9, 9], [9, 9]], label="a", external_id="receipt-1")]
    assert stores.examples.add(service, image, first, source="api") == Stored(new=1, corrected=0)
    assert stores.examples.add(service, image, again, source="api") == Stored(new=0, corrected=0)
    read = stores.examples.read(service, image)
    assert read.examples.labels.tolist() == ["a"]
    assert [np.asarray(i).tolist() for i in read.examples.inputs] == [[[1, 2], [3, 4]]]


def test_duplicates_within_one_add_and_concurrent_adds_store_once(stores: Stores, service: str) -> None:
    rows = linear_examples(250, seed=6)
    # the same examples twice in one request (250 apart: across execute_values pages too)
    assert stores.examples.add(service, table, rows + rows, source="test").new == 250
    more = linear_examples(400, seed=7)
    with ThreadPoolExecutor(max_workers=4) as pool:
        added = list(pool.map(lambda _: stores.examples.add(service, table, more, source="test"), range(4)))
    assert sum(a.new for a in added) == 400
    assert stores.examples.stats(service, table).count == 650


def test_one_bad_example_writes_nothing(stores: Stores, service: str) -> None:
    rows = [*linear_examples(5, seed=4), LabelledExample(input={"x1": 1, "x2": 2}, label=1.0)]
    with pytest.raises(InvalidInputError) as caught:
        stores.examples.add(service, table, rows, source="test")
    assert caught.value.index == 5 and str(caught.value) == "input.x3: Field required"
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


def test_rows_outside_todays_declared_ranges_are_skipped_and_counted(
    settings: Settings, stores: Stores, service: str
) -> None:
    # given: rows stored under the old, unbounded feature list, some of them absurd
    stores.examples.add(service, table, linear_examples(10, seed=8), source="test")
    stores.examples.add(
        service,
        table,
        [
            LabelledExample(input={"x1": 1e8, "x2": 0, "x3": 0}, label=1.0),
            LabelledExample(input={"x1": 0, "x2": 0, "x3": -9e8}, label=1.0),
            LabelledExample(input={"x1": 0, "x2": 0, "x3": 0}, label=-9e8),
        ],
        source="test",
    )
    _raw_insert(settings, table.table, service, {"x1": 0, "x2": 50.0, "x3": 0}, 1.0)  # JSON only, no vector
    # when: the service now declares ranges for its features and its label
    bounded = TabularRegression.from_manifest(
        {
            "features": [{"name": "x1", "min": -10, "max": 10}, "x2", {"name": "x3", "min": -10, "max": 10}],
            "label": {"min": -1000, "max": 1000},
            "max_abs": 20,
        }
    )
    assert bounded.features_key == table.features_key  # the stored vectors stay usable
    read = stores.examples.read(service, bounded)
    # then: only the rows within every range are read
    assert len(read.examples) == 10 and read.malformed == 4
    assert np.abs(read.examples.inputs).max() <= 10 and np.abs(read.examples.labels).max() <= 1000


def test_the_store_writes_the_feature_vector_reads_use(settings: Settings, stores: Stores, service: str) -> None:
    stores.examples.add(service, table, [LabelledExample(input={"x3": 3, "x1": 1, "x2": 2}, label=5.0)], source="t")
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT features, features_key FROM {table.table} WHERE service = %s", (service,))
        assert cur.fetchall() == [([1.0, 2.0, 3.0], table.features_key)]
    conn.close()


def test_rows_without_a_current_feature_vector_are_read_from_their_json(
    settings: Settings, stores: Stores, service: str
) -> None:
    # given: rows written by other writers or under an older feature list
    good = {"x1": 1.0, "x2": 2.0, "x3": 3.0}
    _raw_insert(settings, table.table, service, good, 1.0)  # no vector at all
    _raw_insert(settings, table.table, service, good, 2.0, features=[9.0, 9.0], features_key="old-list")
    _raw_insert(settings, table.table, service, good, 3.0, features=[9.0, 9.0], features_key=table.features_key)
    _raw_insert(settings, table.table, service, good, 4.0, features=[9.0, None, 9.0], features_key=table.features_key)
    _raw_insert(
        settings, table.table, service, good, 5.0, features=[7.0, math.nan, 7.0], features_key=table.features_key
    )
    # when
    read = stores.examples.read(service, table)
    # then: the JSON is the truth wherever the vector cannot be trusted; NaN stays malformed
    assert read.examples.labels.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert read.examples.inputs.tolist() == [[1.0, 2.0, 3.0]] * 4
    assert read.malformed == 1


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


def test_box_labels_round_trip_through_jsonb_and_boxes_outside_their_image_are_skipped(
    settings: Settings, stores: Stores, service: str
) -> None:
    detection = TextDetection.from_manifest({"max_value": 16})
    boxes = [{"x": 0, "y": 1, "width": 2, "height": 1}, {"x": 1, "y": 0, "width": 1, "height": 2}]
    examples = [LabelledExample(input=[[1, 2, 3], [4, 5, 6]], label=boxes), LabelledExample(input=[[0]], label=[])]
    assert stores.examples.add(service, detection, examples, source="test").new == 2
    assert stores.examples.add(service, detection, examples, source="test").new == 0
    _raw_insert(
        settings, detection.table, service, [[1, 2]], psycopg2.extras.Json([{"x": 1, "y": 0, "width": 5, "height": 1}])
    )
    _raw_insert(settings, detection.table, service, [[1, 2]], psycopg2.extras.Json({"x": 0}))
    read = stores.examples.read(service, detection)
    assert read.examples.labels.tolist() == [boxes, []] and read.malformed == 2
    assert [image.shape for image in read.examples.inputs] == [(2, 3), (1, 1)]
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f"SELECT jsonb_typeof(label) FROM {detection.table} WHERE service = %s ORDER BY id LIMIT 1", (service,)
        )
        assert cur.fetchone() == ("array",)
    conn.close()


def test_concurrent_corrections_of_one_example_leave_one_current_row_and_lose_no_label(
    stores: Stores, service: str
) -> None:
    def correct(label: str) -> Stored:
        example = LabelledExample(input=[[1, 2], [3, 4]], label=label, external_id="receipt-1")
        return stores.examples.add(service, image, [example], source="api")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(correct, "abcd"))
    assert (sum(r.new for r in results), sum(r.corrected for r in results)) == (1, 3)
    assert stores.examples.stats(service, image).count == 1
    rows = stores.examples.list_examples(service, image, Selection(), limit=10)
    assert sorted(r.label for r in rows) == ["a", "b", "c", "d"]
    assert [r.superseded_by for r in rows[:-1]] == [r.id for r in rows[1:]] and rows[-1].superseded_by is None
