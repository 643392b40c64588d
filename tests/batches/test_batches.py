"""Queue-style batches end to end: a real API process, real `mlseam worker` processes, moto SQS/S3/DynamoDB."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from api_servers import ApiProcess, start_api, train
from sklearn.datasets import load_digits

from builders import clone_service, linear_examples, linear_service, stack_env
from mlseam.aws import aws_client
from mlseam.examples import LabelledExample
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores, create_batch_resources
from mlseam.training import Retrainer, promote

DIGITS = load_digits()
CHUNK = 50


@dataclass
class Batched:
    settings: Settings
    stores: Stores
    api: ApiProcess
    digits: str
    exploding: str
    log_dir: Path
    env: dict[str, str]

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        env = stack_env(self.settings, MLSEAM_WORKER_WAIT_S="1", MLSEAM_LOG_LEVEL="INFO", **self.env)
        with (self.log_dir / f"worker-{name}-{time.monotonic_ns()}.log").open("wb") as log:
            argv = [sys.executable, "-m", "mlseam.cli", "worker", name]
            return subprocess.Popen(argv, env=env, stdout=log, stderr=log)

    def submit(self, name: str, inputs: list[Any], key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return httpx.post(self.api.url(f"/{name}/v1/batches"), json={"inputs": inputs}, headers=headers, timeout=60)

    def status(self, url: str, **params: int) -> dict[str, Any]:
        response = httpx.get(self.api.url(url), params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def wait(self, url: str, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.status(url)
            if body["status"] in ("succeeded", "failed"):
                return body
            time.sleep(0.2)
        raise AssertionError(f"batch not finished in {timeout}s: {body}")

    def all_results(self, url: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self.status(url, offset=offset, limit=100)
            results.extend(page["outputs"])
            offset = page["next_offset"]
        return results


@pytest.fixture(scope="module")
def batched(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Batched]:
    services_dir = tmp_path_factory.mktemp("services")
    settings = stack_settings.model_copy(
        update={
            "services_dir": services_dir,
            "batch_chunk_items": CHUNK,
            "batch_max_receives": 2,
            "batch_visibility_timeout_s": 5,
            "batch_max_items": 5000,
            "queue_prefix": "mlseam-test",
        }
    )
    stores = build_stores(settings)
    digits = clone_service(services_dir, "digits")
    exploding = linear_service(services_dir, model="ExplodingModel")
    stores.examples.add(exploding, load_service(exploding, services_dir).kind, linear_examples(60, seed=1), source="t")
    for name in (digits, exploding):
        train(settings, stores, name)
    create_batch_resources(settings, [digits, exploding])
    log_dir = tmp_path_factory.mktemp("logs")
    env = {
        "MLSEAM_BATCH_CHUNK_ITEMS": str(CHUNK),
        "MLSEAM_BATCH_MAX_ITEMS": "5000",
        "MLSEAM_QUEUE_PREFIX": "mlseam-test",
        "MLSEAM_BATCH_MAX_RECEIVES": "2",
        "MLSEAM_BATCH_VISIBILITY_TIMEOUT_S": "5",
    }
    api = start_api(settings, [digits, exploding], log_dir, **env)
    yield Batched(settings, stores, api, digits, exploding, log_dir, env)
    assert api.stop() == 0, api.logs()


def _images(count: int, start: int = 0) -> list[Any]:
    return [DIGITS.images[(start + i) % len(DIGITS.images)].tolist() for i in range(count)]


def _expected_labels(batched: Batched, version: str, images: list[Any]) -> list[str]:
    from mlseam.runtime import load_version

    service = load_service(batched.digits, batched.settings.services_dir)
    loaded = load_version(service, version, registry=batched.stores.registry, artifacts=batched.stores.artifacts)
    return list(loaded.model.predict([np.asarray(image, dtype=float) for image in images]))


def _stopped(worker: subprocess.Popen[bytes]) -> int:
    worker.send_signal(signal.SIGTERM)
    return worker.wait(timeout=30)


def test_submit_poll_and_read_results_in_input_order(batched: Batched) -> None:
    # given: 230 images, one of them malformed
    images = _images(230)
    images[7] = [[1.0, 2.0]]
    worker = batched.worker(batched.digits)
    try:
        # when
        response = batched.submit(batched.digits, images)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert accepted["status"] == "queued" and accepted["model_version"] == "v1"
        assert response.headers["location"] == accepted["status_url"]
        final = batched.wait(accepted["status_url"])
    finally:
        assert _stopped(worker) == 0
    # then: every item in place; the malformed one has its own error, its neighbours succeed
    assert final["status"] == "succeeded" and final["progress"] == {"done": 230, "total": 230}
    assert final["errors"] == 1 and final["model_version"] == "v1"
    results = batched.all_results(accepted["status_url"])
    assert [r["index"] for r in results] == list(range(230))
    assert results[7]["error"]["code"] == "invalid_input" and "inputs[7]" in results[7]["error"]["message"]
    expected = _expected_labels(batched, "v1", [image for i, image in enumerate(images) if i != 7])
    assert [r["output"]["label"] for i, r in enumerate(results) if i != 7] == expected
    assert all("probabilities" in r["output"] for i, r in enumerate(results) if i != 7)
    # and the full result file says the same
    lines = httpx.get(final["result_url"], timeout=30).content.splitlines()
    assert [orjson.loads(line) for line in lines] == results
    assert set(final["timings_ms"]) >= {"validate", "upload", "queue", "read", "predict", "write", "finalise"}


def test_every_predicted_item_has_a_prediction_id_and_is_in_the_prediction_log(batched: Batched) -> None:
    images = _images(120)
    images[3] = [[1.0, 2.0]]
    worker = batched.worker(batched.digits)
    try:
        accepted = batched.submit(batched.digits, images).json()
        batched.wait(accepted["status_url"])
    finally:
        assert _stopped(worker) == 0  # a stopping worker writes what its recorder holds
    results = batched.all_results(accepted["status_url"])
    ids = [r["output"]["prediction_id"] for r in results if "output" in r]
    assert len(ids) == 119 and len(set(ids)) == 119 and "output" not in results[3]
    assert batched.stores.predictions is not None
    logged = batched.stores.predictions.lookup(batched.digits, ids)
    assert set(logged) == set(ids)
    first = logged[results[0]["output"]["prediction_id"]]
    assert first.request_id == accepted["batch_id"] and first.version == "v1"
    assert first.input == images[0]
    assert first.output == {k: v for k, v in results[0]["output"].items() if k != "prediction_id"}


def test_an_idempotency_key_makes_a_retry_harmless(batched: Batched) -> None:
    images = _images(120, start=5)
    first = batched.submit(batched.digits, images, key="receipts-2026-11")
    again = batched.submit(batched.digits, images, key="receipts-2026-11")
    assert first.status_code == again.status_code == 202
    assert first.json()["batch_id"] == again.json()["batch_id"]
    s3 = aws_client(batched.settings, "s3")
    prefix = f"{batched.settings.batches_prefix}/{batched.digits}/{first.json()['batch_id']}/inputs/"
    listed = s3.list_objects_v2(Bucket=batched.settings.batches_bucket, Prefix=prefix)
    assert listed["KeyCount"] == 3  # written once: 120 items in chunks of 50
    other = batched.submit(batched.digits, images[:10], key="receipts-2026-11")
    assert other.status_code == 409 and "different body" in other.json()["error"]["message"]
    worker = batched.worker(batched.digits)
    try:
        final = batched.wait(first.json()["status_url"])
    finally:
        assert _stopped(worker) == 0
    assert final["progress"] == {"done": 120, "total": 120} and final["errors"] == 0


def test_a_batch_keeps_the_version_it_was_submitted_with(batched: Batched) -> None:
    # given: a second version exists and v1 is the champion when the batch is submitted
    images = _images(100, start=300)
    service = load_service(batched.digits, batched.settings.services_dir)
    extra = [
        LabelledExample(input=(DIGITS.images[i] * 0.9).tolist(), label=str(DIGITS.target[i]), external_id=f"x{i}")
        for i in range(60)
    ]
    batched.stores.examples.add(batched.digits, service.kind, extra, source="t")
    record = (
        Retrainer(
            service,
            examples=batched.stores.examples,
            registry=batched.stores.registry,
            artifacts=batched.stores.artifacts,
        )
        .run()
        .record
    )
    assert record.version == "v2" and record.artifact_key, record.reason
    if batched.stores.registry.get_champion(batched.digits).version != "v1":  # type: ignore[union-attr]
        promote(batched.stores.registry, batched.stores.artifacts, batched.digits, "v1", reason="test")
    response = batched.submit(batched.digits, images)
    assert response.json()["model_version"] == "v1"
    # when: v2 is promoted before any worker touched the batch
    promote(batched.stores.registry, batched.stores.artifacts, batched.digits, "v2", reason="test")
    worker = batched.worker(batched.digits)
    try:
        final = batched.wait(response.json()["status_url"])
    finally:
        assert _stopped(worker) == 0
    # then: the whole batch was predicted by v1
    assert final["model_version"] == "v1"
    labels = [r["output"]["label"] for r in batched.all_results(response.json()["status_url"])]
    assert labels == _expected_labels(batched, "v1", images)


def test_a_poison_chunk_ends_in_the_dead_letter_queue_and_the_batch_still_ends(batched: Batched) -> None:
    good = {"x1": 1.0, "x2": 2.0, "x3": 3.0}
    inputs = [dict(good, x1=float(i % 7)) for i in range(120)]
    inputs[60]["x1"] = 666.0  # fails chunk 1 (items 50-99) every time
    worker = batched.worker(batched.exploding)
    try:
        response = batched.submit(batched.exploding, inputs)
        final = batched.wait(response.json()["status_url"], timeout=120)
    finally:
        assert _stopped(worker) == 0
    assert final["status"] == "succeeded" and final["failed_chunks"] == 1 and final["errors"] == CHUNK
    results = batched.all_results(response.json()["status_url"])
    failed = [r["index"] for r in results if "error" in r]
    assert failed == list(range(50, 100))
    assert "x1 == 666 breaks this model" in results[60]["error"]["message"]
    assert all("output" in r for r in results[:50] + results[100:])
    sqs = aws_client(batched.settings, "sqs")
    dlq = sqs.get_queue_url(QueueName=f"mlseam-test-{batched.exploding}-batches-dlq")["QueueUrl"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        if sum(int(v) for v in attributes.values()) >= 1:
            break
        # the redrive happens on the receive after the last failure: a worker's receive triggers it
        sqs.receive_message(
            QueueUrl=sqs.get_queue_url(QueueName=f"mlseam-test-{batched.exploding}-batches")["QueueUrl"],
            WaitTimeSeconds=1,
        )
    else:
        raise AssertionError("the poison chunk never reached the dead-letter queue")


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(batched: Batched) -> None:
    images = _images(2000, start=11)
    response = batched.submit(batched.digits, images)
    url = response.json()["status_url"]
    worker = batched.worker(batched.digits)
    deadline = time.monotonic() + 60
    while batched.status(url)["progress"]["done"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()  # SIGKILL: no chance to finish or hand back its chunk
    worker.wait()
    assert batched.status(url)["status"] != "succeeded"
    restarted = batched.worker(batched.digits)
    try:
        final = batched.wait(url, timeout=120)
    finally:
        assert _stopped(restarted) == 0
    assert final["progress"] == {"done": 2000, "total": 2000} and final["errors"] == 0
    results = batched.all_results(url)
    assert [r["index"] for r in results] == list(range(2000))
    assert [r["output"]["label"] for r in results] == _expected_labels(batched, final["model_version"], images)


def test_unknown_batches_and_oversized_batches_say_what_to_fix(batched: Batched) -> None:
    missing = httpx.get(batched.api.url(f"/{batched.digits}/v1/batches/{'0' * 32}"))
    assert missing.status_code == 404 and "never existed or has expired" in missing.json()["error"]["message"]
    assert httpx.get(batched.api.url(f"/{batched.digits}/v1/batches/nope")).status_code == 404
    too_many = batched.submit(batched.digits, _images(1) * 5001)
    assert too_many.status_code == 413 and "at most 5000" in too_many.json()["error"]["message"]
    empty = batched.submit(batched.digits, [])
    assert empty.status_code == 422


def test_sigterm_lets_the_worker_finish_its_chunk_and_exit_0(batched: Batched) -> None:
    images = _images(1500, start=17)
    url = batched.submit(batched.digits, images).json()["status_url"]
    worker = batched.worker(batched.digits)
    deadline = time.monotonic() + 60
    while batched.status(url)["progress"]["done"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    # when: ECS scales the worker in mid-batch
    assert _stopped(worker) == 0
    stopped_at = batched.status(url)["progress"]["done"]
    assert stopped_at % CHUNK == 0  # whole chunks only
    # then: another worker finishes the batch, nothing lost or doubled
    successor = batched.worker(batched.digits)
    try:
        final = batched.wait(url, timeout=120)
    finally:
        assert _stopped(successor) == 0
    assert final["progress"] == {"done": 1500, "total": 1500}
    assert [r["index"] for r in batched.all_results(url)] == list(range(1500))
