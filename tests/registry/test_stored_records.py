"""Version records already stored by older writers read back as they always did."""

from __future__ import annotations

import json
import math
import uuid

import pytest

from dashboard_history import write_history
from mlseam.registry import DynamoRegistry, InMemoryRegistry, ModelVersion, Registry, Status, VersionSummary
from mlseam.registry.records import summarize
from mlseam.stores import Stores

OLDER_RECORD = {
    # what an early retrain wrote: none of the fields added since, one since dropped
    "service": "digits",
    "number": 3,
    "status": "promoted",
    "reason": "better by 0.0100",
    "started_at": "2026-10-01T03:00:00.000+00:00",
    "finished_at": "2026-10-01T03:01:00.000+00:00",
    "primary_metric": "macro_f1",
    "metrics": {"macro_f1": 0.91, "support": 360},
    "champion_version": "v2",
    "champion_metrics": {"macro_f1": "nan"},
    "watermark": 1200,
    "train_count": 900,
    "holdout_count": 300,
    "code_version": "abc123",
    "params": {"C": 1},
    "artifact_key": "artifacts/digits/v3/model.pkl",
    "artifact_sha256": "0" * 64,
    "retired_field": {"anything": True},
}


def test_a_record_written_before_later_fields_existed_reads_with_their_defaults() -> None:
    record = ModelVersion.from_json(json.dumps(OLDER_RECORD))

    assert (record.version, record.status, record.code_version) == ("v3", Status.PROMOTED, "abc123")
    assert record.metrics == {"macro_f1": 0.91, "support": 360.0}
    assert record.champion_metrics is not None and math.isnan(record.champion_metrics["macro_f1"])
    assert (record.quarantine_revision, record.trigger, record.artifact_signature) == (0, "", None)
    assert record.params == {"C": 1} and record.has_artifact
    assert not hasattr(record, "retired_field")


def test_a_record_with_nan_tokens_or_unexpected_types_is_still_read() -> None:
    # json.dumps writes NaN tokens unless told not to; a count stored as text, a code version as a number
    nan_token = json.dumps({**OLDER_RECORD, "metrics": {"macro_f1": float("nan")}})
    loose_types = json.dumps({**OLDER_RECORD, "train_count": "900", "code_version": 123})

    assert math.isnan(ModelVersion.from_json(nan_token).metrics["macro_f1"])
    assert ModelVersion.from_json(loose_types).train_count in (900, "900")
    assert ModelVersion.from_json(loose_types).code_version == 123  # type: ignore[comparison-overlap]


def test_a_record_reads_back_as_it_was_written() -> None:
    record = ModelVersion(service="s", number=7, status=Status.KEPT, primary_metric="rmse")
    record.metrics, record.gain = {"rmse": 0.25, "worst": float("inf")}, {"delta": -0.01, "rows": 50.0}
    record.params, record.library_versions, record.timings = {"alpha": [1, 2]}, {"numpy": "2.1"}, {"fit_s": 0.5}

    again = ModelVersion.from_json(record.to_json())

    assert again == record


@pytest.mark.integration
def test_items_stored_by_older_writers_are_listed_and_read(stores: Stores) -> None:
    # given: version items as an older registry wrote them, NaN token in the monitor's attribute
    registry = stores.registry
    assert isinstance(registry, DynamoRegistry)
    service = f"svc-{uuid.uuid4().hex[:8]}"
    for number in (1, 2):
        text = json.dumps({**OLDER_RECORD, "service": service, "number": number})
        item = {"pk": {"S": f"SERVICE#{service}"}, "sk": {"S": f"VERSION#{number:010d}"}, "record": {"S": text}}
        item["status"] = {"S": "promoted"}
        item["live"] = {"S": json.dumps({"metrics": {"macro_f1": float("nan")}, "labelled": 12})}
        registry.client.put_item(TableName=registry.table, Item=item)

    # when
    listed = registry.list_versions(service)
    one = registry.get_version(service, "v1")

    # then
    assert [v.version for v in listed] == ["v2", "v1"]
    assert one.metrics == {"macro_f1": 0.91, "support": 360.0} and one.code_version == "abc123"
    assert one.live is not None and one.live["labelled"] == 12 and math.isnan(one.live["metrics"]["macro_f1"])


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.integration)])
def registry(request: pytest.FixtureRequest) -> Registry:
    if request.param == "memory":
        return InMemoryRegistry()
    stores: Stores = request.getfixturevalue("stores")
    return stores.registry


def test_a_versions_summary_says_what_its_full_record_says(registry: Registry) -> None:
    # given: versions with outcomes, metrics, gains and, every other one, live metrics beside them
    service = f"svc-{uuid.uuid4().hex[:8]}"
    write_history(registry, service, 5)

    # when
    summaries = registry.list_version_summaries(service)
    records = registry.list_versions(service)

    # then
    assert summaries == [summarize(record) for record in records]
    assert [s.version for s in summaries] == ["v5", "v4", "v3", "v2", "v1"]
    assert summaries[1].live == {"metrics": {"rmse": 1 / 4 + 0.01}, "labelled": 40}
    assert summaries[0].live is None and summaries[0].code_version == "abc5"


def test_a_summary_of_a_record_an_older_writer_stored_reads_like_the_record() -> None:
    for text in (json.dumps(OLDER_RECORD), json.dumps({**OLDER_RECORD, "code_version": 123})):
        summary = VersionSummary.from_json(text)
        assert summary == summarize(ModelVersion.from_json(text))
        assert (summary.version, summary.metrics["macro_f1"], summary.train_count) == ("v3", 0.91, 900)
