"""The inference API as product backends call it: a real `mlseam serve` process on the local stack."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from api_servers import Served
from sklearn.datasets import load_diabetes, load_digits

from mlseam.examples import Selection
from mlseam.manifest import load_service
from mlseam.runtime.codec import load_model

DIGITS = load_digits()
DIABETES = load_diabetes()


def _diabetes_input(row: int) -> dict[str, float]:
    return dict(zip(DIABETES.feature_names, map(float, DIABETES.data[row]), strict=True))


def _champion(served: Served, name: str) -> Any:
    load_service(name, served.settings.services_dir)
    champion = served.stores.registry.get_champion(name)
    assert champion is not None
    record = served.stores.registry.get_version(name, champion.version)
    assert record.artifact_key and record.artifact_sha256
    return load_model(
        served.stores.artifacts.get(record.artifact_key, record.artifact_sha256), service=name, where=name
    )


def test_digits_predicts_labels_in_input_order(served: Served) -> None:
    images = [DIGITS.images[i].tolist() for i in range(10)]
    response = httpx.post(served.api.url(f"/{served.digits}/v1/predict"), json={"inputs": images})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = _champion(served, served.digits).predict([np.asarray(image) for image in images])
    assert [output["label"] for output in body["outputs"]] == list(expected)
    assert body["model_version"] == "v1"
    # the model has probabilities, so every output carries them: ten digits, summing to one,
    # the most probable being the label
    for output in body["outputs"]:
        probabilities = output["probabilities"]
        assert sorted(probabilities) == [str(digit) for digit in range(10)]
        assert abs(sum(probabilities.values()) - 1.0) < 1e-3
        assert max(probabilities, key=probabilities.__getitem__) == output["label"]
    assert response.headers["x-request-id"]


def test_diabetes_predicts_values(served: Served) -> None:
    inputs = [_diabetes_input(row) for row in range(5)]
    response = httpx.post(served.api.url(f"/{served.diabetes}/v1/predict"), json={"inputs": inputs})
    assert response.status_code == 200, response.text
    expected = _champion(served, served.diabetes).predict(DIABETES.data[:5])
    assert np.allclose([output["value"] for output in response.json()["outputs"]], expected)


IMAGE = [[0.0] * 8 for _ in range(8)]


@pytest.mark.parametrize(
    ("body", "status", "message", "field", "index"),
    [
        ('{"inputs": []}', 422, "inputs: List should have at least 1 item", "inputs", None),
        (
            json.dumps({"inputs": [IMAGE, IMAGE[:3]]}),
            422,
            "inputs[1]: List should have at least 8 items",
            "inputs[1]",
            1,
        ),
        (
            json.dumps({"inputs": [IMAGE, [[*r[:7], "x"] for r in IMAGE]]}),
            422,
            "Input should be a valid number",
            "inputs[1][0][7]",
            1,
        ),
        (
            '{"inputs": [' + json.dumps(IMAGE).replace("0.0", "NaN", 1) + "]}",
            422,
            "finite number",
            "inputs[0][0][0]",
            0,
        ),
        (
            '{"inputs": [' + json.dumps(IMAGE).replace("0.0", "Infinity", 1) + "]}",
            422,
            "finite number",
            "inputs[0][0][0]",
            0,
        ),
        (
            '{"inputs": [' + json.dumps(IMAGE).replace("0.0", "1e999", 1) + "]}",
            422,
            "finite number",
            "inputs[0][0][0]",
            0,
        ),
        ('{"inputs": "all of them"}', 422, "inputs: Input should be a valid array", "inputs", None),
        ('{"images": []}', 422, "inputs: Field required", "inputs", None),
        ('{"inputs": [[[1, 2', 422, "body: is not valid JSON", "body", None),
        (json.dumps({"inputs": [IMAGE] * 51}), 413, "inputs: List should have at most 50 items", None, None),
    ],
)
def test_bad_predict_bodies_name_what_to_fix(
    served: Served, body: str, status: int, message: str, field: str | None, index: int | None
) -> None:
    response = httpx.post(
        served.api.url(f"/{served.digits}/v1/predict"), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert message in error["message"]
    assert error.get("field") == field and error.get("index") == index
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_missing_feature_is_named(served: Served) -> None:
    bad = _diabetes_input(0)
    del bad["bmi"]
    response = httpx.post(served.api.url(f"/{served.diabetes}/v1/predict"), json={"inputs": [_diabetes_input(1), bad]})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_input",
        "message": "inputs[1].bmi: Field required",
        "index": 1,
        "field": "inputs[1].bmi",
    }


def test_too_large_a_body_is_413(served: Served) -> None:
    body = b'{"inputs": [' + b" " * 300_000 + b"]}"
    response = httpx.post(served.api.url(f"/{served.digits}/v1/predict"), content=body)
    assert response.status_code == 413 and "exceeds 200000 bytes" in response.json()["error"]["message"]


def test_a_client_sending_its_whole_body_before_reading_gets_the_413(served: Served) -> None:
    # given: urllib, which sends all 72 MB before it reads a byte of the answer
    body = b'{"inputs": [' + b" " * 72_000_000 + b"]}"
    url = served.api.url(f"/{served.digits}/v1/predict")
    request = urllib.request.Request(url, data=body, method="POST", headers={"content-type": "application/json"})  # noqa: S310
    # when
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)  # noqa: S310 - the test's own server
    # then: the JSON answer, not a connection reset
    assert refused.value.code == 413
    assert "exceeds 200000 bytes" in json.loads(refused.value.read())["error"]["message"]


def _chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    yield b'{"inputs": ['
    for _ in range(total // size):
        yield b" " * size
    yield b"]}"


def test_a_streamed_body_past_the_limit_gets_the_413_and_the_connection_serves_on(served: Served) -> None:
    host, port = served.api.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        # no Content-Length: the limit is found while reading
        connection.request("POST", f"/{served.digits}/v1/examples", body=_chunks(5_000_000), encode_chunked=True)
        refused = connection.getresponse()
        assert refused.status == 413 and json.loads(refused.read())["error"]["code"] == "too_large"
        connection.request("GET", f"/{served.digits}/healthz")
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def _answer_to_headers(served: Served, *headers: str) -> tuple[bytes, bytes]:
    """Head and body of the answer to a predict request whose body is never sent."""
    host, port = served.api.base_url.removeprefix("http://").split(":")
    request = [
        f"POST /{served.digits}/v1/predict HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        *headers,
    ]
    with socket.create_connection((host, int(port)), timeout=10) as client:
        client.sendall(("\r\n".join(request) + "\r\n\r\n").encode())
        answer = b""
        while not answer.rstrip().endswith(b"}"):
            received = client.recv(65536)
            if not received:
                break
            answer += received
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_a_client_expecting_100_continue_is_refused_before_it_sends_the_body(served: Served) -> None:
    head, body = _answer_to_headers(served, "Content-Length: 72000000", "Expect: 100-continue")
    assert head.startswith(b"HTTP/1.1 413") and b"100 Continue" not in head
    assert json.loads(body)["error"]["code"] == "too_large"


def test_a_body_too_large_to_throw_away_is_refused_at_once_and_the_connection_closed(served: Served) -> None:
    head, body = _answer_to_headers(served, f"Content-Length: {10**10}")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "too_large"


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/nope", 404), ("GET", "/v1/predict", 405)])
def test_unknown_routes_are_json(served: Served, method: str, path: str, status: int) -> None:
    response = httpx.request(method, served.api.url(f"/{served.digits}{path}"))
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_a_request_id_is_echoed(served: Served) -> None:
    response = httpx.get(served.api.url(f"/{served.digits}/v1/model"), headers={"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    model = response.json()
    assert model["version"] == "v1" and model["primary_metric"] == "macro_f1" and model["data_watermark"] > 0
    assert model["metrics"]["macro_f1"] > 0.9 and model["trained_at"]


def test_health_readiness_docs_and_metrics(served: Served) -> None:
    base = served.api.url(f"/{served.digits}")
    assert httpx.get(base + "/healthz").json() == {"status": "alive"}
    assert httpx.get(base + "/readyz").json() == {"status": "ready", "model_version": "v1"}
    assert httpx.get(base + "/livez").json() == {"status": "ready", "model_version": "v1"}
    assert httpx.get(base + "/docs").status_code == 200
    schema = httpx.get(base + "/openapi.json").json()
    request = schema["components"]["schemas"][
        schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].split(
            "/"
        )[-1]
    ]
    assert request["properties"]["inputs"]["items"]["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 16}
    assert httpx.post(base + "/v1/predict", json={"inputs": [IMAGE]}).status_code == 200
    metrics = httpx.get(base + "/metrics").text
    assert f'mlseam_model_loaded{{service="{served.digits}",version="v1"}} 1.0' in metrics
    assert "mlseam_http_request_seconds_bucket" in metrics and "mlseam_predict_call_rows_bucket" in metrics
    # every route is counted under its own label, the raw-ASGI predict route included
    for route in ("/v1/predict", "/readyz", "/livez", "/openapi.json"):
        assert f'route="{route}",service="{served.digits}"' in metrics, route


def test_the_openapi_contract_declares_every_answer_and_links_a_batch_to_its_status(served: Served) -> None:
    paths = httpx.get(served.api.url(f"/{served.digits}/openapi.json")).json()["paths"]
    assert set(paths["/v1/predict"]["post"]["responses"]) == {"200", "401", "404", "409", "413", "422", "500", "503"}
    assert set(paths["/v1/examples"]["post"]["responses"]) == {"201", "401", "413", "422", "503"}
    assert set(paths["/v1/batches"]["post"]["responses"]) == {"202", "401", "409", "413", "422", "503"}
    assert set(paths["/v1/batches/{batch_id}"]["get"]["responses"]) == {"200", "401", "404", "422", "503"}
    assert set(paths["/readyz"]["get"]["responses"]) == {"200", "503"}
    assert set(paths["/livez"]["get"]["responses"]) == {"200", "503"}
    assert set(paths["/metrics"]["get"]["responses"]) == {"200", "401"}
    accepted = paths["/v1/batches"]["post"]["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchSummary"}
    link = accepted["links"]["GetBatch"]
    assert link["operationId"] == paths["/v1/batches/{batch_id}"]["get"]["operationId"]
    assert link["parameters"] == {"batch_id": "$response.body#/batch_id"}


def test_an_offset_past_any_batch_is_a_declared_422_not_a_500(served: Served) -> None:
    response = httpx.get(served.api.url(f"/{served.digits}/v1/batches/{'0' * 32}"), params={"offset": 10**29})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "query.offset"


def test_examples_are_stored_once(served: Served) -> None:
    url = served.api.url(f"/{served.diabetes}/v1/examples")
    examples = [{"input": _diabetes_input(i), "label": 100.0 + i, "external_id": f"visit-{i}"} for i in range(3)]
    first = httpx.post(url, json={"examples": examples})
    assert first.status_code == 201 and first.json() == {"received": 3, "stored": 3, "corrected": 0}
    assert httpx.post(url, json={"examples": examples}).json() == {"received": 3, "stored": 0, "corrected": 0}
    bad = [*examples, {"input": _diabetes_input(0), "label": "high"}]
    response = httpx.post(url, json={"examples": bad})
    assert response.status_code == 422 and response.json()["error"]["field"] == "examples[3].label"


def test_a_corrected_label_is_counted_and_every_api_write_keeps_its_request_id(served: Served) -> None:
    url = served.api.url(f"/{served.diabetes}/v1/examples")
    examples = [{"input": _diabetes_input(i), "label": 50.0 + i, "external_id": f"fix-{i}"} for i in range(2)]
    first = httpx.post(url, json={"examples": examples}, headers={"X-Request-ID": "req-first"})
    assert first.json() == {"received": 2, "stored": 2, "corrected": 0}, first.text
    examples[1]["label"] = 99.0
    second = httpx.post(url, json={"examples": examples}, headers={"X-Request-ID": "req-second"})
    assert second.json() == {"received": 2, "stored": 0, "corrected": 1}, second.text
    kind = load_service(served.diabetes, served.settings.services_dir).kind
    stored = served.stores.examples.list_examples(served.diabetes, kind, Selection(source="api"), limit=1000)
    mine = [(r.external_id, r.label, r.request_id) for r in stored if r.external_id.startswith("fix-")]
    assert mine == [("fix-0", 50.0, "req-first"), ("fix-1", 51.0, "req-first"), ("fix-1", 99.0, "req-second")]


def test_coalesced_predictions_return_each_caller_its_own_outputs(served: Served) -> None:
    # given: many callers at once, each with its own distinct image
    url = served.api.url(f"/{served.digits}/v1/predict")
    rows = list(range(64))
    expected = list(_champion(served, served.digits).predict([DIGITS.images[i] for i in rows]))

    def call(row: int) -> str:
        response = httpx.post(url, json={"inputs": [DIGITS.images[row].tolist()]}, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["outputs"][0]["label"])

    before = _batch_counts(served)
    # when
    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(call, rows))
    # then: every caller got the answer to its own input, and calls were coalesced
    assert got == expected
    calls, requests = (after - earlier for after, earlier in zip(_batch_counts(served), before, strict=True))
    assert requests == 64 and calls < 64


def _batch_counts(served: Served) -> tuple[float, float]:
    text = httpx.get(served.api.url(f"/{served.digits}/metrics")).text
    calls = requests = 0.0
    for line in text.splitlines():
        if line.startswith(f'mlseam_predict_call_requests_count{{service="{served.digits}"}}'):
            calls = float(line.split()[-1])
        if line.startswith(f'mlseam_predict_call_requests_sum{{service="{served.digits}"}}'):
            requests = float(line.split()[-1])
    return calls, requests


def test_a_model_exception_fails_only_its_batch_with_500(served: Served) -> None:
    url = served.api.url(f"/{served.exploding}/v1/predict")
    good = {"x1": 1.0, "x2": 2.0, "x3": 3.0}
    response = httpx.post(url, json={"inputs": [{**good, "x1": 666.0}]})
    assert response.status_code == 500
    assert response.json()["request_id"] in response.json()["error"]["message"]
    # the model's own message and trace stay in the server log
    assert "Traceback" not in response.text and "breaks this model" not in response.text
    assert httpx.post(url, json={"inputs": [good]}).status_code == 200
