"""The prediction log, on the real PostgreSQL server and in memory: writes, lookups, windows, retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg2
import pytest

from mlseam.examples.migrate import alembic_config, migrate
from mlseam.predictionlog import (
    InMemoryPredictionLog,
    LoggedPrediction,
    PostgresPredictionLog,
    PredictionBatch,
    PredictionLog,
    new_prediction_ids,
)
from mlseam.settings import Settings


def downgrade(dsn: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(dsn), revision)


@pytest.fixture(params=["postgres", "memory"])
def log(request: pytest.FixtureRequest) -> Iterator[PredictionLog]:
    if request.param == "memory":
        yield InMemoryPredictionLog()
        return
    settings: Settings = request.getfixturevalue("settings")
    store = PostgresPredictionLog(settings.dsn)
    yield store
    store.close()


@pytest.fixture
def service() -> str:
    return f"log-{uuid.uuid4().hex[:8]}"


def _entry(service: str, at: datetime, **changes: object) -> LoggedPrediction:
    fields: dict[str, object] = {
        "prediction_id": new_prediction_ids(1)[0],
        "service": service,
        "version": "v2",
        "request_id": "req-1",
        "logged_at": at,
        "input": {"age": 0.03, "bmi": -0.01},
        "output": {"value": 151.25},
    }
    fields.update(changes)
    return LoggedPrediction(**fields)  # type: ignore[arg-type]


def _write(log: PredictionLog, entries: list[LoggedPrediction]) -> None:
    """``entries`` written as the API logs them, each its own one-item request."""
    log.write(
        [_request(e.service, e.logged_at, [e.prediction_id], [e.input], [e.output], e.request_id) for e in entries]
    )


def _request(
    service: str, at: datetime, ids: list[str], inputs: list[Any], outputs: list[Any], request_id: str | None = "req-1"
) -> PredictionBatch:
    body = orjson.dumps({"inputs": inputs})
    answer = orjson.dumps({"outputs": outputs, "model_version": "v2"})
    return PredictionBatch(service, "v2", request_id, at, ids[0], len(ids), body, answer)


def test_a_written_prediction_is_found_by_its_id_with_everything_logged(log: PredictionLog, service: str) -> None:
    at = datetime.now(UTC)
    entry = _entry(service, at)
    _write(log, [entry, _entry(service, at)])
    found = log.lookup(service, [entry.prediction_id])
    assert found == {entry.prediction_id: entry}


def test_a_rendered_output_is_stored_as_its_json_without_the_prediction_id(log: PredictionLog, service: str) -> None:
    pid = new_prediction_ids(1)[0]
    rendered = orjson.Fragment(b'{"label":"3","probabilities":{"3":1.000000},"prediction_id":"%s"}' % pid.encode())
    entry = _entry(service, datetime.now(UTC), output=rendered, request_id=None)
    _write(log, [entry])
    stored = log.lookup(service, [entry.prediction_id])[entry.prediction_id]
    assert stored.output == {"label": "3", "probabilities": {"3": 1.0}}
    assert stored.request_id is None


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_sent(log: PredictionLog, service: str) -> None:
    odd = 'a\tb\nc\\d "e"'
    entry = _entry(service, datetime.now(UTC), request_id=odd, input={"text": odd}, output={"text": odd})
    _write(log, [entry])
    assert log.lookup(service, [entry.prediction_id]) == {entry.prediction_id: entry}


def test_unknown_ids_and_other_services_ids_are_absent_from_a_lookup(log: PredictionLog, service: str) -> None:
    entry = _entry(service, datetime.now(UTC))
    _write(log, [entry])
    assert log.lookup(service, [new_prediction_ids(1)[0], entry.prediction_id[:-1] + "f" * 1, "not-an-id"]) == {}
    assert log.lookup("another-service", [entry.prediction_id]) == {}
    assert log.lookup(service, []) == {}


def test_a_window_holds_the_services_predictions_of_that_time_oldest_first(log: PredictionLog, service: str) -> None:
    now = datetime.now(UTC)
    entries = [_entry(service, now - timedelta(minutes=minutes)) for minutes in (50, 30, 10, 1)]
    _write(log, entries)
    _write(log, [_entry("another-service", now - timedelta(minutes=20))])
    window = log.window(service, since=now - timedelta(minutes=40), until=now - timedelta(minutes=5))
    assert [e.prediction_id for e in window] == [entries[1].prediction_id, entries[2].prediction_id]
    assert len(log.window(service, since=now - timedelta(hours=1), limit=3)) == 3


def test_prune_drops_the_whole_days_older_than_the_cut_and_keeps_the_rest(log: PredictionLog, service: str) -> None:
    old, kept = datetime(2001, 3, 1, 23, 59, tzinfo=UTC), datetime(2001, 3, 2, 0, 1, tzinfo=UTC)
    entries = [_entry(service, old), _entry(service, kept)]
    _write(log, entries)
    assert log.prune(older_than=datetime(2001, 3, 2, 12, tzinfo=UTC)) == 1
    assert set(log.lookup(service, [e.prediction_id for e in entries])) == {entries[1].prediction_id}
    assert log.prune(older_than=datetime(2001, 3, 2, 12, tzinfo=UTC)) == 0


def test_each_day_is_its_own_partition(settings: Settings, service: str) -> None:
    store = PostgresPredictionLog(settings.dsn)
    _write(store, [_entry(service, datetime(2002, 5, 6, 12, tzinfo=UTC))])
    store.close()
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM prediction_requests_p20020506 WHERE service = %s", (service,))
        assert cur.fetchone() == (1,)
    conn.close()


def test_a_requests_items_are_found_one_by_one_and_in_order_in_a_window(log: PredictionLog, service: str) -> None:
    now = datetime.now(UTC)
    ids = new_prediction_ids(5)
    first = _request(
        service,
        now,
        ids[:3],
        [{"a": i} for i in range(3)],
        [{"value": i, "prediction_id": p} for i, p in enumerate(ids[:3])],
    )
    # the two others of the same model batch, in another request, logged a moment later
    second = _request(service, now + timedelta(seconds=1), ids[3:], [{"a": 3}, {"a": 4}], [{"value": 3}, {"value": 4}])
    log.write([first, second])
    found = log.lookup(service, [ids[4], ids[1], new_prediction_ids(1)[0]])
    assert {pid: (e.input, e.output) for pid, e in found.items()} == {
        ids[4]: ({"a": 4}, {"value": 4}),
        ids[1]: ({"a": 1}, {"value": 1}),
    }
    window = log.window(service, since=now - timedelta(minutes=1))
    assert [e.prediction_id for e in window] == ids
    assert [e.input for e in log.window(service, since=now - timedelta(minutes=1), limit=4)] == [
        {"a": i} for i in range(4)
    ]


def test_a_request_body_is_stored_byte_for_byte_whitespace_and_escapes_included(
    log: PredictionLog, service: str
) -> None:
    ids = new_prediction_ids(2)
    body = b'{\t"inputs" :\r\n [ {"text": "tab\\there \\\\ \\"q\\" \\u00e9"},\n\t{"text": "\xc3\xa9"} ]\n}'
    answer = orjson.dumps({"outputs": [{"text": "x", "prediction_id": ids[0]}, {"text": "y", "prediction_id": ids[1]}]})
    log.write([PredictionBatch(service, "v1", None, datetime.now(UTC), ids[0], 2, body, answer)])
    found = log.lookup(service, ids)
    assert [found[pid].input for pid in ids] == orjson.loads(body)["inputs"]
    assert [found[pid].output for pid in ids] == [{"text": "x"}, {"text": "y"}]


def test_a_write_of_many_megabytes_stores_every_request_whole(log: PredictionLog, service: str) -> None:
    # a few MiB: the write goes out in several chunks, each of whole rows
    now = datetime.now(UTC)
    requests = [new_prediction_ids(100) for _ in range(60)]
    inputs = [
        [{"pixels": [[(r + i + j) % 17 for j in range(64)] for _ in range(3)]} for i in range(100)] for r in range(60)
    ]
    log.write(
        [
            _request(service, now, ids, items, [{"value": r, "prediction_id": p} for p in ids])
            for r, (ids, items) in enumerate(zip(requests, inputs, strict=True))
        ]
    )
    found = log.lookup(service, [ids[k] for ids in requests for k in (0, 57, 99)])
    assert len(found) == 3 * 60
    assert [(found[ids[57]].input, found[ids[57]].output) for ids in requests] == [
        (items[57], {"value": r}) for r, items in enumerate(inputs)
    ]


def test_a_write_takes_its_batches_over_and_empties_their_list(log: PredictionLog, service: str) -> None:
    ids = new_prediction_ids(2)
    batches = [_request(service, datetime.now(UTC), [pid], [{"a": 0}], [{"value": 0}]) for pid in ids]

    log.write(batches)

    assert batches == []
    assert set(log.lookup(service, ids)) == set(ids)


def test_a_batch_item_without_a_usable_prediction_is_not_a_logged_prediction(log: PredictionLog, service: str) -> None:
    ids = new_prediction_ids(2)
    log.write([_request(service, datetime.now(UTC), ids, [{"a": 0}, {"a": 1}], [None, {"value": 1}])])
    assert set(log.lookup(service, ids)) == {ids[1]}


def test_the_migration_keeps_every_prediction_logged_before_it_under_its_id(settings: Settings) -> None:
    database = f"migrate_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(settings.dsn)
    admin.autocommit = True  # CREATE DATABASE runs outside a transaction
    admin.cursor().execute(f"CREATE DATABASE {database}")
    admin.close()
    dsn = urlunsplit(urlsplit(settings.dsn)._replace(path=f"/{database}"))
    migrate(dsn, "0007")
    pid, at = new_prediction_ids(1)[0], datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE prediction_log_p20261130 PARTITION OF prediction_log "
            "FOR VALUES FROM ('2026-11-30 00:00+00') TO ('2026-12-01 00:00+00')"
        )
        cur.execute(
            "INSERT INTO prediction_log VALUES (%s, 'svc', 'v4', 'req-9', %s, %s, %s)",
            (pid, at, '{"bmi": 0.5}', '{"value": 12.5}'),
        )
    conn.close()
    migrate(dsn, "0009")
    store = PostgresPredictionLog(dsn)
    assert store.lookup("svc", [pid]) == {
        pid: LoggedPrediction(pid, "svc", "v4", "req-9", at, {"bmi": 0.5}, {"value": 12.5})
    }
    store.close()
    downgrade(dsn, "0007")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT prediction_id, version, input, output FROM prediction_log_p20261130")
        assert cur.fetchall() == [(pid, "v4", {"bmi": 0.5}, {"value": 12.5})]
    conn.close()
