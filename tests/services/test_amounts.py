"""The amounts service on the real local stack: seed, retrain, predict, store examples, batches."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg2
import pytest
from api_servers import ApiProcess, start_api, train

from builders import clone_service, stack_env
from mlseam.local.stack import LocalStack
from mlseam.manifest import Service, load_service
from mlseam.runtime import load_version
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores, create_batch_resources


@dataclass
class Served:
    settings: Settings
    stores: Stores
    api: ApiProcess
    name: str
    log_dir: Path

    @property
    def service(self) -> Service:
        return load_service(self.name, self.settings.services_dir)

    def url(self, path: str) -> str:
        return self.api.url(f"/{self.name}{path}")


@pytest.fixture(scope="module")
def served(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    services_dir = tmp_path_factory.mktemp("services")
    settings = stack_settings.model_copy(update={"services_dir": services_dir})
    stores = build_stores(settings)
    name = clone_service(services_dir, "amounts")
    train(settings, stores, name)  # the whole demo seed, and one retrain
    create_batch_resources(settings, [name])
    log_dir = tmp_path_factory.mktemp("logs")
    api = start_api(settings, [name], log_dir)
    yield Served(settings, stores, api, name, log_dir)
    assert api.stop() == 0, api.logs()


def _seed(served: Served, count: int, start: int = 0) -> list[tuple[list[list[float]], str]]:
    return list(islice(served.service.load_seed()(), start, start + count))


def _champion_reads(served: Served, strips: list[Any]) -> list[str]:
    loaded = load_version(served.service, "v1", registry=served.stores.registry, artifacts=served.stores.artifacts)
    return list(loaded.model.predict([np.asarray(strip, dtype=float) for strip in strips]))


def test_the_retrained_model_reads_amounts_through_the_api(served: Served) -> None:
    strips, amounts = zip(*_seed(served, 40), strict=True)
    response = httpx.post(served.url("/v1/predict"), json={"inputs": list(strips)}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "v1"
    assert all(set(output) == {"text", "prediction_id"} for output in body["outputs"])
    texts = [output["text"] for output in body["outputs"]]
    assert texts == _champion_reads(served, list(strips))
    assert sum(text == amount for text, amount in zip(texts, amounts, strict=True)) >= 36
    model = httpx.get(served.url("/v1/model")).json()
    assert model["primary_metric"] == "cer" and model["metrics"]["cer"] < 0.05 and model["train_count"] > 1000


def test_posted_examples_land_in_the_ocr_table(served: Served) -> None:
    (strip, _), (other, _) = _seed(served, 2, start=100)
    examples = [
        {"input": strip, "label": "1250", "external_id": "receipt-7/total"},
        {"input": other, "label": "0042"},
    ]
    url = served.url("/v1/examples")
    first = httpx.post(url, json={"examples": examples})
    assert first.status_code == 201 and first.json() == {"received": 2, "stored": 2, "corrected": 0}, first.text
    assert httpx.post(url, json={"examples": examples}).json() == {"received": 2, "stored": 0, "corrected": 0}
    with psycopg2.connect(served.settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT external_id, label, input, source FROM ocr_examples "
            "WHERE service = %s AND source = 'api' ORDER BY id",
            (served.name,),
        )
        rows = cur.fetchall()
    conn.close()
    assert [(row[1], row[2], row[3]) for row in rows] == [("1250", strip, "api"), ("0042", other, "api")]
    assert rows[0][0] == "receipt-7/total" and rows[1][0].startswith("sha256:")
    bad = httpx.post(url, json={"examples": [examples[0], {"input": strip, "label": "12.50"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "examples[1].label"
    assert "'.' not in the alphabet '0123456789'" in bad.json()["error"]["message"]


def _ragged(strip: list[list[float]]) -> list[list[float]]:
    return [row if r != 3 else row[:-1] for r, row in enumerate(strip)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_ragged, "row 3 has {short} values but row 0 has {width}; every row of a strip must be equally wide"),
        (lambda strip: strip[:7], "has a height of 7; a strip is exactly 8 rows high"),
        (
            lambda strip: [row * 20 for row in strip],
            "has a width of {wide}; a strip is 2 to 256 columns wide: crop its margins",
        ),
    ],
)
def test_a_wrong_shaped_strip_is_refused_naming_index_and_problem(served: Served, change: Any, message: str) -> None:
    strips = [strip for strip, _ in _seed(served, 3)]
    width = len(strips[2][0])
    strips[2] = change(strips[2])
    response = httpx.post(served.url("/v1/predict"), json={"inputs": strips})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["index"] == 2 and error["field"] == "inputs[2]"
    assert error["message"].startswith("inputs[2]: " + message.format(short=width - 1, width=width, wide=width * 20))


def test_the_openapi_document_types_strips_and_text(served: Served) -> None:
    schema = httpx.get(served.url("/openapi.json")).json()
    components = schema["components"]["schemas"]
    predict = schema["paths"]["/v1/predict"]["post"]
    request = components[predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert request["properties"]["inputs"]["items"]["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 16}
    output = next(value for key, value in components.items() if key.endswith("Output"))
    assert output["properties"]["text"]["type"] == "string"


def test_a_batch_of_strips_is_read_by_the_worker(served: Served) -> None:
    # given: 60 strips, one of them ragged
    strips = [strip for strip, _ in _seed(served, 60, start=200)]
    strips[5] = _ragged(strips[5])
    env = stack_env(served.settings, MLSEAM_WORKER_WAIT_S="1")
    with (served.log_dir / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mlseam.cli", "worker", served.name], env=env, stdout=log, stderr=log
        )
    try:
        # when
        accepted = httpx.post(served.url("/v1/batches"), json={"inputs": strips}, timeout=60)
        assert accepted.status_code == 202, accepted.text
        status_url = served.api.url(accepted.json()["status_url"])
        deadline = time.monotonic() + 60
        while (final := httpx.get(status_url, params={"limit": 100}).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, final
            time.sleep(0.2)
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
    # then: every strip read in place, the ragged one has its own error
    assert final["status"] == "succeeded" and final["errors"] == 1, final
    results = final["outputs"]
    assert results[5]["error"]["code"] == "invalid_input" and "inputs[5]: row 3 has" in results[5]["error"]["message"]
    valid = [strip for i, strip in enumerate(strips) if i != 5]
    assert [r["output"]["text"] for i, r in enumerate(results) if i != 5] == _champion_reads(served, valid)
