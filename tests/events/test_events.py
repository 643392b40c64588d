"""Every move announced: events published to the topic and read from a subscribed SQS queue."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_servers import start_api
from event_queue import subscribe_queue
from prometheus_client import REGISTRY

from builders import linear_examples, linear_service
from mlseam.artifacts import S3ArtifactStore
from mlseam.artifacts.signing import build_trust
from mlseam.aws import aws_client
from mlseam.events import EVENT_SCHEMA, NO_EVENTS, EventPublisher, retrain_ended
from mlseam.manifest import load_service
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer

ENVELOPE = {"schema", "id", "type", "at", "environment", "service", "version", "actor", "reason", "details"}


def _service_with_examples(settings: Settings, stores: Stores, model: str = "LinearModel", count: int = 60) -> str:
    name = linear_service(settings.services_dir, model=model)
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(count, seed=1), source="t")
    return name


def _retrain(settings: Settings, stores: Stores, name: str, *, force: bool = False) -> Status:
    outcome = Retrainer.for_settings(load_service(name, settings.services_dir), stores, settings).run(force=force)
    assert outcome.record is not None
    return outcome.record.status


def test_a_retrain_that_promotes_publishes_the_champion_move(settings: Settings, stores: Stores) -> None:
    # given
    name = _service_with_examples(settings, stores)
    events = subscribe_queue(settings)
    # when
    assert _retrain(settings, stores, name) is Status.PROMOTED
    # then
    event = events.wait_for(name, "champion.moved")
    assert set(event) == ENVELOPE and event["schema"] == EVENT_SCHEMA
    assert event["environment"] == "local" and event["version"] == "v1" and event["actor"] == "retrain job"
    assert event["details"] == {"action": "promote", "from_version": None, "to_version": "v1", "revision": 1}
    assert event["reason"].startswith("first model: rmse")


def test_a_refused_retrain_is_published_with_its_reason(settings: Settings, stores: Stores) -> None:
    # given
    name = _service_with_examples(settings, stores, model="NanModel")
    events = subscribe_queue(settings)
    # when
    assert _retrain(settings, stores, name) is Status.REFUSED
    # then
    event = events.wait_for(name, "retrain.refused")
    assert event["version"] == "v1" and event["details"] == {"status": "refused"}
    assert "rmse" in event["reason"] and "NaN" in event["reason"]
    assert [e["type"] for e in events.of(name)] == ["retrain.refused"]


def test_a_failed_retrain_is_published_with_its_reason(settings: Settings, stores: Stores) -> None:
    # given: the artifacts bucket is missing, so the candidate cannot be stored
    name = _service_with_examples(settings, stores)
    broken = dataclasses.replace(
        stores, artifacts=S3ArtifactStore(aws_client(settings, "s3"), "no-such-bucket", trust=build_trust(settings))
    )
    events = subscribe_queue(settings)
    # when
    assert _retrain(settings, broken, name) is Status.FAILED
    # then
    event = events.wait_for(name, "retrain.failed")
    assert event["version"] == "v1" and "no-such-bucket" in event["reason"]


def test_a_reload_failure_in_an_api_is_published_once(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    # given: an API serving v1; v2 (kept) has its artifact altered in S3, then is pointed at directly
    name = _service_with_examples(settings, stores, model="StubbornModel")
    assert _retrain(settings, stores, name) is Status.PROMOTED
    assert _retrain(settings, stores, name, force=True) is Status.KEPT
    events = subscribe_queue(settings)
    api = start_api(settings, [name], tmp_path)
    try:
        v2 = stores.registry.get_version(name, "v2")
        assert isinstance(stores.artifacts, S3ArtifactStore) and v2.artifact_key
        stores.artifacts.client.put_object(Bucket=settings.artifacts_bucket, Key=v2.artifact_key, Body=b"evil")
        stores.registry.move_champion(name, "v2", expected_revision=1, action="promote", reason="tampered")
        # when: the API polls, and keeps failing with backoff
        event = events.wait_for(name, "reload.failed")
        time.sleep(1.0)
        # then: one event for the run of failures, saying what it keeps serving
        assert event["version"] == "v2" and event["actor"] == "api"
        assert event["details"] == {"serving": "v1", "failures": 1}
        assert "ArtifactIntegrityError" in event["reason"]
        assert [e["type"] for e in events.of(name)] == ["reload.failed"]
        assert (
            httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": [{"x1": 1, "x2": 2, "x3": 3}]}).json()[
                "model_version"
            ]
            == "v1"
        )
    finally:
        api.stop()


class _DownSns:
    def publish(self, **kwargs: Any) -> None:
        raise ConnectionError("sns is down")


def test_a_failed_publish_is_logged_and_counted_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    # given
    publisher = EventPublisher("arn:aws:sns:eu-west-1:123456789012:t", client=_DownSns())
    labels = {"type": "retrain.failed", "result": "failed"}
    before = REGISTRY.get_sample_value("mlseam_events_total", labels) or 0.0
    # when
    with caplog.at_level(logging.WARNING, logger="mlseam.events"):
        sent = publisher.publish(retrain_ended("svc", "v3", status="failed", actor="retrain job", reason="boom"))
    # then
    assert sent is False
    assert REGISTRY.get_sample_value("mlseam_events_total", labels) == before + 1
    assert "could not publish a retrain.failed event of svc" in caplog.text and "sns is down" in caplog.text


def test_without_a_topic_nothing_is_published() -> None:
    assert NO_EVENTS.publish(retrain_ended("svc", "v3", status="failed", actor="a", reason="r")) is False
