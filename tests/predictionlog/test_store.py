"""The prediction log, on the real PostgreSQL server and in memory: writes, lookups, windows, retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import psycopg2
import pytest

from mlseam.predictionlog import InMemoryPredictionLog, LoggedPrediction, PostgresPredictionLog, PredictionLog
from mlseam.settings import Settings


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
        "prediction_id": uuid.uuid4().hex,
        "service": service,
        "version": "v2",
        "request_id": "req-1",
        "logged_at": at,
        "input": {"age": 0.03, "bmi": -0.01},
        "output": {"value": 151.25},
    }
    fields.update(changes)
    return LoggedPrediction(**fields)  # type: ignore[arg-type]


def test_a_written_prediction_is_found_by_its_id_with_everything_logged(log: PredictionLog, service: str) -> None:
    at = datetime.now(UTC)
    entry = _entry(service, at)
    log.write([entry, _entry(service, at)])
    found = log.lookup(service, [entry.prediction_id])
    assert found == {entry.prediction_id: entry}


def test_a_rendered_output_is_stored_as_its_json_without_the_prediction_id(log: PredictionLog, service: str) -> None:
    pid = uuid.uuid4().hex
    rendered = orjson.Fragment(b'{"label":"3","probabilities":{"3":1.000000},"prediction_id":"%s"}' % pid.encode())
    entry = _entry(service, datetime.now(UTC), output=rendered, request_id=None)
    log.write([entry])
    stored = log.lookup(service, [entry.prediction_id])[entry.prediction_id]
    assert stored.output == {"label": "3", "probabilities": {"3": 1.0}}
    assert stored.request_id is None


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_sent(log: PredictionLog, service: str) -> None:
    odd = 'a\tb\nc\\d "e"'
    entry = _entry(service, datetime.now(UTC), request_id=odd, input={"text": odd}, output={"text": odd})
    log.write([entry])
    assert log.lookup(service, [entry.prediction_id]) == {entry.prediction_id: entry}


def test_unknown_ids_and_other_services_ids_are_absent_from_a_lookup(log: PredictionLog, service: str) -> None:
    entry = _entry(service, datetime.now(UTC))
    log.write([entry])
    assert log.lookup(service, [uuid.uuid4().hex]) == {}
    assert log.lookup("another-service", [entry.prediction_id]) == {}
    assert log.lookup(service, []) == {}


def test_a_window_holds_the_services_predictions_of_that_time_oldest_first(log: PredictionLog, service: str) -> None:
    now = datetime.now(UTC)
    entries = [_entry(service, now - timedelta(minutes=minutes)) for minutes in (50, 30, 10, 1)]
    log.write(entries)
    log.write([_entry("another-service", now - timedelta(minutes=20))])
    window = log.window(service, since=now - timedelta(minutes=40), until=now - timedelta(minutes=5))
    assert [e.prediction_id for e in window] == [entries[1].prediction_id, entries[2].prediction_id]
    assert len(log.window(service, since=now - timedelta(hours=1), limit=3)) == 3


def test_prune_drops_the_whole_days_older_than_the_cut_and_keeps_the_rest(log: PredictionLog, service: str) -> None:
    old, kept = datetime(2001, 3, 1, 23, 59, tzinfo=UTC), datetime(2001, 3, 2, 0, 1, tzinfo=UTC)
    entries = [_entry(service, old), _entry(service, kept)]
    log.write(entries)
    assert log.prune(older_than=datetime(2001, 3, 2, 12, tzinfo=UTC)) == 1
    assert set(log.lookup(service, [e.prediction_id for e in entries])) == {entries[1].prediction_id}
    assert log.prune(older_than=datetime(2001, 3, 2, 12, tzinfo=UTC)) == 0


def test_each_day_is_its_own_partition(settings: Settings, service: str) -> None:
    store = PostgresPredictionLog(settings.dsn)
    store.write([_entry(service, datetime(2002, 5, 6, 12, tzinfo=UTC))])
    store.close()
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM prediction_log_p20020506 WHERE service = %s", (service,))
        assert cur.fetchone() == (1,)
    conn.close()
