"""The same requests get the same answers with the access log, the prediction log and coalescing on or off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from api_servers import ApiProcess, start_api, train
from sklearn.datasets import load_digits

from builders import clone_service
from mlseam.local.stack import LocalStack
from mlseam.settings import Settings
from mlseam.stores import build_stores

VARIANTS: dict[str, dict[str, str]] = {
    "as shipped": {},
    "access log off": {"MLSEAM_LOG_LEVEL": "WARNING"},
    "prediction log off": {"MLSEAM_PREDICTION_LOG": "false"},
    "coalescing off": {"MLSEAM_COALESCE": "false"},
}
IMAGES = [[[int(v) for v in row] for row in image] for image in load_digits().images[:60].tolist()]


def _bodies() -> list[dict[str, Any]]:
    """Requests of 1 to 12 images, and some a careful client never sends (each must get the same 422)."""
    bodies: list[dict[str, Any]] = [{"inputs": IMAGES[i : i + 1 + i % 12]} for i in range(48)]
    too_bright = [row[:] for row in IMAGES[0]]
    too_bright[3][4] = 17
    ragged = [row[:] for row in IMAGES[1]]
    ragged[2] = ragged[2][:5]
    bodies += [{"inputs": [IMAGES[2], too_bright]}, {"inputs": [ragged]}, {"inputs": [[["1"] * 8] * 8]}, {}]
    return bodies


def _without_ids(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {k: _without_ids(v) for k, v in answer.items() if k not in ("prediction_id", "request_id")}
    if isinstance(answer, list):
        return [_without_ids(v) for v in answer]
    return answer


def _ask(api: ApiProcess, name: str, variant: str) -> list[tuple[str, int, Any]]:
    """Every body sent at once from 16 threads (so coalescing has something to coalesce): (request id, status,
    answer without its ids), in body order."""
    url = api.url(f"/{name}/v1/predict")
    bodies = _bodies()
    with httpx.Client(timeout=30) as client:

        def post(index: int) -> tuple[str, int, Any]:
            request_id = f"{variant.replace(' ', '-')}-{index}"
            response = client.post(url, json=bodies[index], headers={"X-Request-ID": request_id})
            assert response.headers["x-request-id"] == request_id
            return request_id, response.status_code, _without_ids(response.json())

        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(post, range(len(bodies))))


def _access_lines(api: ApiProcess) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in api.logs().splitlines() if line.startswith("{")]
    return [entry for entry in entries if entry.get("name") == "mlseam.access"]


@pytest.fixture(scope="module")
def answers(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """One digits champion asked the same requests by an API in each variant: (service, {variant: (answers,
    access log lines)})."""
    settings = stack_settings.model_copy(update={"services_dir": tmp_path_factory.mktemp("services")})
    stores = build_stores(settings)
    name = clone_service(settings.services_dir, "digits")
    train(settings, stores, name)
    results: dict[str, Any] = {}
    for variant, env in VARIANTS.items():
        api = start_api(settings, [name], tmp_path_factory.mktemp("logs"), **env)
        try:
            answered = _ask(api, name, variant)
        finally:
            code = api.stop()
        assert code == 0, api.logs()
        results[variant] = (answered, _access_lines(api))
    yield name, results


def test_answers_are_identical_with_logging_and_coalescing_on_or_off(answers: tuple[str, dict[str, Any]]) -> None:
    _, results = answers
    shipped = [(status, answer) for _, status, answer in results["as shipped"][0]]
    assert {status for status, _ in shipped} == {200, 422}
    for variant in VARIANTS:
        assert [(status, answer) for _, status, answer in results[variant][0]] == shipped, variant


def test_the_access_log_has_one_line_per_request_with_its_id_status_and_time(
    answers: tuple[str, dict[str, Any]],
) -> None:
    name, results = answers
    answered, lines = results["as shipped"]
    by_id = {line["request_id"]: line for line in lines}
    assert len(lines) == len(by_id) == len(answered)
    for request_id, status, _ in answered:
        line = by_id[request_id]
        assert (line["status"], line["method"], line["path"], line["service"]) == (
            status,
            "POST",
            f"/{name}/v1/predict",
            name,
        )
        assert line["levelname"] == "INFO" and line["message"] == "request"
        assert isinstance(line["ms"], float | int) and 0 <= line["ms"] < 30_000
    # and with the log level at WARNING there is no access log at all
    assert results["access log off"][1] == []
