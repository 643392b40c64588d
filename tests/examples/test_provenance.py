"""Provenance, corrections and quarantine, alike on PostgreSQL and in the in-memory store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from builders import FEATURES, linear_examples
from mlseam.examples import Action, ExamplesStore, InMemoryExamplesStore, LabelledExample, Selection, Stored
from mlseam.settings import Settings
from mlseam.tasks import ImageClassification, TabularRegression

table = TabularRegression.from_manifest({"features": FEATURES})
image = ImageClassification.from_manifest({"height": 2, "width": 2})
PIXELS = [[1, 2], [3, 4]]


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> ExamplesStore:
    if request.param == "memory":
        return InMemoryExamplesStore()
    stores = request.getfixturevalue("stores")
    examples: ExamplesStore = stores.examples
    return examples


@pytest.fixture
def service() -> str:
    return f"prov-{uuid.uuid4().hex[:8]}"


def _labelled(label: str, external_id: str, prediction_id: str | None = None) -> LabelledExample:
    return LabelledExample(input=PIXELS, label=label, external_id=external_id, prediction_id=prediction_id)


def test_api_and_seed_writes_record_source_request_id_time_and_prediction_id(
    store: ExamplesStore, service: str
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    store.add(service, image, [_labelled("a", "r-1", prediction_id="p-42")], source="api", request_id="req-7")
    store.add(service, image, [_labelled("b", "seed:0")], source="seed")
    rows = store.list_examples(service, image, Selection(), limit=10)
    assert [(r.external_id, r.source, r.request_id, r.prediction_id) for r in rows] == [
        ("r-1", "api", "req-7", "p-42"),
        ("seed:0", "seed", None, None),
    ]
    assert all(before <= r.created_at <= datetime.now(UTC) + timedelta(seconds=5) for r in rows)


def test_a_listing_can_name_only_the_examples_that_label_a_prediction(store: ExamplesStore, service: str) -> None:
    store.add(service, image, [_labelled("a", "r-1", prediction_id="p-1"), _labelled("b", "seed:0")], source="api")
    store.add(service, image, [_labelled("c", "r-2", prediction_id="p-2")], source="api")
    rows = store.list_examples(service, image, Selection(labels_a_prediction=True), limit=10)
    assert [r.prediction_id for r in rows] == ["p-1", "p-2"]
    assert Selection(source="api", labels_a_prediction=True).describe() == "source=api labels-a-prediction"


def test_a_correction_supersedes_the_old_label_and_both_stay_recorded(store: ExamplesStore, service: str) -> None:
    assert store.add(service, image, [_labelled("a", "r-1"), _labelled("x", "r-2")], source="api") == Stored(2, 0)
    assert store.add(service, image, [_labelled("b", "r-1"), _labelled("x", "r-2")], source="api") == Stored(0, 1)
    assert store.read(service, image).examples.labels.tolist() == ["x", "b"]
    rows = store.list_examples(service, image, Selection(), limit=10)
    assert [(r.external_id, r.label) for r in rows] == [("r-1", "a"), ("r-2", "x"), ("r-1", "b")]
    assert rows[0].superseded_by == rows[2].id and rows[1].superseded_by is None
    assert store.stats(service, image).count == 2


def test_a_read_at_an_old_watermark_gives_the_old_labels_exactly(store: ExamplesStore, service: str) -> None:
    store.add(service, image, [_labelled("a", "r-1"), _labelled("x", "r-2")], source="api")
    old = store.read(service, image)
    store.add(service, image, [_labelled("b", "r-1"), _labelled("y", "r-3")], source="api")
    store.add(service, image, [_labelled("c", "r-1")], source="api")
    again = store.read(service, image, watermark=old.watermark)
    assert again.examples.ids.tolist() == old.examples.ids.tolist()
    assert again.examples.labels.tolist() == ["a", "x"]
    assert store.read(service, image).examples.labels.tolist() == ["x", "y", "c"]


def test_a_correction_in_the_matrix_read_path_keeps_reads_reproducible(store: ExamplesStore, service: str) -> None:
    rows = [LabelledExample(r.input, r.label, external_id=f"e-{i}") for i, r in enumerate(linear_examples(40, seed=1))]
    store.add(service, table, rows, source="test")
    old = store.read(service, table)
    fixed = [LabelledExample(input=rows[0].input, label=rows[0].label + 1.0, external_id=rows[0].external_id)]
    assert store.add(service, table, fixed, source="test") == Stored(new=0, corrected=1)
    now = store.read(service, table)
    assert len(now.examples) == 40 and now.examples.labels[-1] == rows[0].label + 1.0
    again = store.read(service, table, watermark=old.watermark)
    assert again.examples.ids.tolist() == old.examples.ids.tolist()
    assert again.examples.labels.tolist() == old.examples.labels.tolist()


def test_quarantine_by_source_then_release_and_old_revisions_read_as_before(store: ExamplesStore, service: str) -> None:
    store.add(service, image, [_labelled("a", "r-1"), _labelled("b", "r-2")], source="api")
    store.add(service, image, [_labelled("c", "s-1")], source="seed")
    before = store.read(service, image)
    by_source = Selection(source="api")
    assert store.count_changed(service, image, by_source, Action.QUARANTINE) == 2
    event = store.apply_quarantine(service, image, by_source, Action.QUARANTINE, actor="ana", reason="bad client")
    assert event is not None and (event.rows, event.actor, event.rule) == (2, "ana", "source=api")
    held = store.read(service, image)
    assert held.examples.labels.tolist() == ["c"] and held.quarantined == 2
    assert held.quarantine_revision == event.revision
    assert [r.quarantined for r in store.list_examples(service, image, Selection(), limit=10)] == [True, True, False]
    assert store.count_changed(service, image, by_source, Action.QUARANTINE) == 0
    assert store.apply_quarantine(service, image, by_source, Action.QUARANTINE, actor="ana", reason="again") is None

    first = store.list_examples(service, image, Selection(), limit=1)[0].id
    released = store.apply_quarantine(service, image, Selection(ids=(first,)), Action.RELEASE, actor="bo", reason="ok")
    assert released is not None and released.rows == 1
    assert store.read(service, image).examples.labels.tolist() == ["a", "c"]
    # each revision keeps meaning the rows it meant
    assert store.read(service, image, quarantine_revision=event.revision).examples.labels.tolist() == ["c"]
    assert store.read(service, image, quarantine_revision=before.quarantine_revision).examples.labels.tolist() == [
        "a",
        "b",
        "c",
    ]
    assert [e.action for e in store.quarantine_history(service)] == [Action.QUARANTINE, Action.RELEASE]


def test_quarantine_by_time_window_and_id_range(store: ExamplesStore, service: str) -> None:
    store.add(service, image, [_labelled(label, f"r-{label}") for label in "abcd"], source="api")
    ids = store.read(service, image).examples.ids.tolist()
    future = datetime.now(UTC) + timedelta(hours=1)
    assert store.count_changed(service, image, Selection(since=future), Action.QUARANTINE) == 0
    window = Selection(since=datetime.now(UTC) - timedelta(hours=1), until=future, id_from=ids[1], id_to=ids[2])
    event = store.apply_quarantine(service, image, window, Action.QUARANTINE, actor="ana", reason="outage")
    assert event is not None and event.rows == 2
    assert store.read(service, image).examples.labels.tolist() == ["a", "d"]
    store.apply_quarantine(service, image, Selection(id_from=ids[0]), Action.RELEASE, actor="ana", reason="fine")
    assert store.read(service, image).examples.labels.tolist() == ["a", "b", "c", "d"]


def test_a_quarantine_covers_only_the_rows_there_when_it_was_applied(store: ExamplesStore, service: str) -> None:
    store.add(service, image, [_labelled("a", "r-1")], source="api")
    store.apply_quarantine(service, image, Selection(source="api"), Action.QUARANTINE, actor="ana", reason="bad")
    store.add(service, image, [_labelled("b", "r-2")], source="api")
    assert store.read(service, image).examples.labels.tolist() == ["b"]


def test_the_migrated_schema_allows_one_current_row_per_external_id(settings: Settings, service: str) -> None:
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO image_classification_examples (service, external_id, input, label, source) "
            "VALUES (%s, 'r-1', '[]', 'a', 'raw')",
            (service,),
        )
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(
                "INSERT INTO image_classification_examples (service, external_id, input, label, source) "
                "VALUES (%s, 'r-1', '[]', 'b', 'raw')",
                (service,),
            )
    conn.close()
