"""The challenger against the champion from the prediction log: agreement, outcomes and latency per version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from mlseam.monitoring.shadow import compare_in_shadow, outputs_agree
from mlseam.predictionlog import InMemoryPredictionLog, PredictionBatch, new_prediction_ids

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _batch(version: str, values: list[float], *, shadow_of: str | None = None, **fields: object) -> PredictionBatch:
    ids = new_prediction_ids(len(values))
    outputs = [{"value": v, "prediction_id": pid} for v, pid in zip(values, ids, strict=True)]
    return PredictionBatch(
        service="svc",
        version=version,
        request_id="req",
        logged_at=AT,
        first_id=ids[0],
        count=len(values),
        request=orjson.dumps({"inputs": [{"x": v} for v in values]}),
        answer=orjson.dumps({"outputs": [] if fields.get("outcome") else outputs, "model_version": version}),
        shadow_of=shadow_of,
        **fields,  # type: ignore[arg-type]
    )


def test_outputs_agree_on_the_same_label_or_text_a_value_within_one_percent_or_as_many_boxes() -> None:
    assert outputs_agree({"label": "3", "probabilities": {"3": 0.9}}, {"label": "3", "probabilities": {"3": 0.6}})
    assert not outputs_agree({"label": "3"}, {"label": "8"})
    assert outputs_agree({"value": 100.0}, {"value": 100.9}) and not outputs_agree({"value": 100.0}, {"value": 102})
    assert outputs_agree({"text": "12"}, {"text": "12"}) and not outputs_agree({"text": "12"}, {"text": "13"})
    assert outputs_agree({"boxes": [{}, {}]}, {"boxes": [{}, {}]}) and not outputs_agree({"boxes": [{}]}, {"boxes": []})


def test_a_comparison_counts_outcomes_agreement_and_both_latencies_on_the_same_requests() -> None:
    # given: two champion requests, the challenger answering one (one of two values off) and failing the other
    log = InMemoryPredictionLog()
    first = _batch("v1", [1.0, 2.0], latency_ms=4.0)
    second = _batch("v1", [3.0], latency_ms=6.0)
    log.write([first, second])
    log.write(
        [
            _batch("v2", [1.0, 2.5], shadow_of=first.first_id, latency_ms=8.0),
            _batch("v2", [3.0], shadow_of=second.first_id, latency_ms=1000.0, outcome="timeout"),
        ]
    )
    # when
    (comparison,) = compare_in_shadow("svc", log, since=AT - timedelta(hours=1))
    # then
    assert comparison.version == "v2" and comparison.requests == 2
    assert dict(comparison.outcomes) == {"ok": 1, "timeout": 1} and comparison.error_rate == 0.5
    assert (comparison.compared, comparison.agreed, comparison.agreement) == (2, 1, 0.5)
    assert comparison.latency_ms == {"p50": 8.0, "p95": 8.0}
    assert comparison.champion_latency_ms == {"p50": 4.0, "p95": 6.0} and comparison.champions == {"v1"}
    assert "agrees with the champion on 50.0% of 2 predictions" in comparison.describe()
    # and drift never reads the challenger's rows
    assert {p.version for p in log.window("svc", since=AT - timedelta(hours=1))} == {"v1"}


def test_a_label_for_the_champions_prediction_finds_the_challengers_prediction_of_the_same_input() -> None:
    log = InMemoryPredictionLog()
    champion = _batch("v1", [1.0, 2.0, 3.0])
    shadow = _batch("v2", [1.1, 2.1, 3.1], shadow_of=champion.first_id)
    log.write([champion, shadow])
    second = champion.first_id[:24] + "00000001"
    found = log.shadows_of("svc", [second])
    assert [(p.version, p.output, p.shadow_of) for p in found[second]] == [("v2", {"value": 2.1}, second)]
