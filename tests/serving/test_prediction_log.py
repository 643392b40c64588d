"""Predictions answered by a real API process land in the prediction log; a log outage costs no request."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_servers import Served, start_api
from sklearn.datasets import load_digits

from mlseam.predictionlog import LoggedPrediction, PredictionLog

DIGITS = load_digits()


def _images(count: int) -> list[list[list[float]]]:
    return [DIGITS.images[i].tolist() for i in range(count)]


def _eventually_logged(log: PredictionLog, service: str, ids: list[str]) -> dict[str, LoggedPrediction]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = log.lookup(service, ids)
        if len(found) == len(ids):
            return found
        time.sleep(0.1)
    return log.lookup(service, ids)


def _metric(text: str, name: str) -> float:
    return sum(float(value) for value in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, flags=re.MULTILINE))


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers: a database server that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_every_output_has_a_prediction_id_and_is_logged_with_input_version_and_request_id(served: Served) -> None:
    images = _images(3)
    response = httpx.post(
        served.api.url(f"/{served.digits}/v1/predict"), json={"inputs": images}, headers={"x-request-id": "req-42"}
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    ids = [output["prediction_id"] for output in outputs]
    assert all(re.fullmatch("[0-9a-f]{32}", pid) for pid in ids) and len(set(ids)) == 3
    assert served.stores.predictions is not None
    logged = _eventually_logged(served.stores.predictions, served.digits, ids)
    assert set(logged) == set(ids)
    for image, output in zip(images, outputs, strict=True):
        entry = logged[output["prediction_id"]]
        assert entry.input == image
        assert entry.output == {"label": output["label"], "probabilities": output["probabilities"]}
        assert (entry.version, entry.request_id, entry.service) == ("v1", "req-42", served.digits)


def test_regression_outputs_are_logged_as_answered(served: Served) -> None:
    row = dict(zip(["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"], [0.01] * 10, strict=True))
    response = httpx.post(served.api.url(f"/{served.diabetes}/v1/predict"), json={"inputs": [row]})
    output = response.json()["outputs"][0]
    assert served.stores.predictions is not None
    entry = _eventually_logged(served.stores.predictions, served.diabetes, [output["prediction_id"]])
    assert entry[output["prediction_id"]].output == {"value": output["value"]}


def test_the_openapi_schema_documents_the_prediction_id(served: Served) -> None:
    schema = httpx.get(served.api.url(f"/{served.digits}/openapi.json")).json()
    output = next(body for name, body in schema["components"]["schemas"].items() if name.endswith("Output"))
    assert "prediction_id" in output["properties"] and "prediction_id" in output["required"]


def test_with_a_share_of_zero_ids_are_answered_but_nothing_is_logged(served: Served, tmp_path: Path) -> None:
    api = start_api(served.settings, [served.digits], tmp_path, MLSEAM_PREDICTION_LOG_SHARE="0")
    try:
        outputs = httpx.post(api.url(f"/{served.digits}/v1/predict"), json={"inputs": _images(5)}).json()["outputs"]
        time.sleep(0.6)  # three flush intervals
    finally:
        assert api.stop() == 0, api.logs()
    ids = [output["prediction_id"] for output in outputs]
    assert len(ids) == 5
    assert served.stores.predictions is not None
    assert served.stores.predictions.lookup(served.digits, ids) == {}


def test_a_hung_log_database_fails_no_request_stalls_none_and_counts_the_drops(
    served: Served, tmp_path: Path, blackhole: int
) -> None:
    # The examples' and the log's database hangs; the champion comes from DynamoDB and S3, untouched.
    api = start_api(
        served.settings,
        [served.digits],
        tmp_path,
        MLSEAM_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{blackhole}/mlseam",
        MLSEAM_PREDICTION_LOG_BUFFER="200",
    )
    body = {"inputs": _images(2)}
    url = api.url(f"/{served.digits}/v1/predict")

    def predict(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        status = client.post(url, json=body).status_code
        return status, time.perf_counter() - started

    try:
        with httpx.Client(timeout=10) as client, ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(predict, range(1500)))
        metrics = httpx.get(api.url(f"/{served.digits}/metrics")).text
    finally:
        assert api.stop() == 0, api.logs()
    assert [status for status, _ in answers if status != 200] == []
    assert max(seconds for _, seconds in answers) < 2.0
    assert _metric(metrics, "mlseam_predictions_dropped_total") > 0
