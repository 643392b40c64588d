"""The receipts service on the real local stack: detect, store box labels, batches, and amounts reading its boxes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import ModuleType
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
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores, build_stores, create_batch_resources
from mlseam.tasks.boxes import detection_scores


@dataclass
class Served:
    settings: Settings
    stores: Stores
    api: ApiProcess
    name: str
    amounts: str
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
    name, amounts = clone_service(services_dir, "receipts"), clone_service(services_dir, "amounts")
    for each in (name, amounts):
        train(settings, stores, each)  # the whole demo seed, and one retrain
    create_batch_resources(settings, [name])
    log_dir = tmp_path_factory.mktemp("logs")
    api = start_api(settings, [name, amounts], log_dir)
    yield Served(settings, stores, api, name, amounts, log_dir)
    assert api.stop() == 0, api.logs()


def _module(file_name: str) -> ModuleType:
    """A module of services/receipts/ (not a package: loaded from its file, as the platform loads model.py)."""
    path = REPO_ROOT / "services" / "receipts" / file_name
    spec = importlib.util.spec_from_file_location(f"receipts_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _seed(served: Served, count: int, start: int = 0) -> list[tuple[list[list[float]], list[dict[str, int]]]]:
    return list(islice(served.service.load_seed()(), start, start + count))


def _champion_finds(served: Served, images: list[Any]) -> list[Any]:
    loaded = load_version(served.service, "v1", registry=served.stores.registry, artifacts=served.stores.artifacts)
    return [
        served.service.kind.validate_output(boxes, index=0)
        for boxes in loaded.model.predict([np.asarray(i, float) for i in images])
    ]


def test_the_retrained_model_finds_the_lines_through_the_api(served: Served) -> None:
    images, truths = zip(*_seed(served, 40), strict=True)
    response = httpx.post(served.url("/v1/predict"), json={"inputs": list(images)}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "v1" and all(
        set(output) == {"boxes", "prediction_id"} for output in body["outputs"]
    )
    found = [output["boxes"] for output in body["outputs"]]
    assert found == _champion_finds(served, list(images))
    assert detection_scores(list(truths), found)["f1"] > 0.8
    model = httpx.get(served.url("/v1/model")).json()
    assert model["primary_metric"] == "f1" and model["metrics"]["f1"] > 0.8 and model["train_count"] > 700
    assert {"precision", "recall"} <= model["metrics"].keys()


def test_posted_box_labels_land_as_jsonb_and_a_box_outside_its_image_is_refused(served: Served) -> None:
    (image, boxes), (other, _) = _seed(served, 2, start=100)
    examples = [{"input": image, "label": boxes, "external_id": "receipt-7"}, {"input": other, "label": []}]
    url = served.url("/v1/examples")
    first = httpx.post(url, json={"examples": examples})
    assert first.status_code == 201 and first.json() == {"received": 2, "stored": 2, "corrected": 0}, first.text
    assert httpx.post(url, json={"examples": examples}).json() == {"received": 2, "stored": 0, "corrected": 0}
    with psycopg2.connect(served.settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT label, jsonb_typeof(label) FROM text_detection_examples "
            "WHERE service = %s AND source = 'api' ORDER BY id",
            (served.name,),
        )
        rows = cur.fetchall()
    conn.close()
    assert rows == [(boxes, "array"), ([], "array")]
    width = len(other[0])
    outside = {"x": width - 2, "y": 0, "width": 5, "height": 8}
    bad = httpx.post(url, json={"examples": [examples[0], {"input": other, "label": [outside]}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "examples[1].label[0].width", bad.text
    assert f"outside the image's {width} columns" in bad.json()["error"]["message"]
    worse = httpx.post(url, json={"examples": [{"input": other, "label": [{**outside, "x": 1, "width": 0}]}]})
    assert worse.status_code == 422 and worse.json()["error"]["field"] == "examples[0].label[0].width", worse.text


def test_a_wrong_sized_image_is_refused_naming_index_and_problem(served: Served) -> None:
    images = [image for image, _ in _seed(served, 3)]
    images[1] = images[1][:10]
    response = httpx.post(served.url("/v1/predict"), json={"inputs": images})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "inputs[1]" and error["message"].startswith(
        "inputs[1]: has 10 rows; an image has 16 to 128"
    )


def test_the_openapi_document_types_images_and_boxes(served: Served) -> None:
    schema = httpx.get(served.url("/openapi.json")).json()
    components = schema["components"]["schemas"]
    predict = schema["paths"]["/v1/predict"]["post"]
    request = components[predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
    assert request["properties"]["inputs"]["items"]["items"]["items"] == {"type": "number", "minimum": 0, "maximum": 16}
    output = next(value for key, value in components.items() if key.endswith("Output"))
    box = components[output["properties"]["boxes"]["items"]["$ref"].split("/")[-1]]
    assert box["properties"]["score"]["maximum"] == 1.0 and box["properties"]["height"]["type"] == "integer"


def test_a_batch_of_images_is_detected_by_the_worker(served: Served) -> None:
    # given: 30 images, one of them ragged
    images = [image for image, _ in _seed(served, 30, start=200)]
    images[4] = [row if r != 3 else row[:-1] for r, row in enumerate(images[4])]
    env = stack_env(served.settings, MLSEAM_WORKER_WAIT_S="1")
    with (served.log_dir / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mlseam.cli", "worker", served.name], env=env, stdout=log, stderr=log
        )
    try:
        # when
        accepted = httpx.post(served.url("/v1/batches"), json={"inputs": images}, timeout=60)
        assert accepted.status_code == 202, accepted.text
        status_url = served.api.url(accepted.json()["status_url"])
        deadline = time.monotonic() + 60
        while (final := httpx.get(status_url, params={"limit": 100}).json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, final
            time.sleep(0.2)
    finally:
        worker.terminate()
        assert worker.wait(timeout=30) == 0
    # then: every image's boxes in place, the ragged one has its own error
    assert final["status"] == "succeeded" and final["errors"] == 1, final
    results = final["outputs"]
    assert results[4]["error"]["code"] == "invalid_input" and "inputs[4]: row 3 has" in results[4]["error"]["message"]
    valid = [image for i, image in enumerate(images) if i != 4]
    assert [r["output"]["boxes"] for i, r in enumerate(results) if i != 4] == _champion_finds(served, valid)


def test_amounts_reads_the_digits_of_the_boxes_receipts_finds(served: Served) -> None:
    # given: demo receipts whose digits are known
    receipts = list(islice(_module("seed.py").demo_receipts(), 900, 940))
    images = [image for image, _, _ in receipts]
    # when: the worked example of the README, against this API
    with httpx.Client(base_url=served.api.url(""), timeout=60) as client:
        readings = _module("to_amounts.py").read_receipts(client, images, detector=served.name, reader=served.amounts)
    # then: most lines are read exactly, digit for digit
    written = [text for _, _, texts in receipts for text in texts]
    read_right = sum(len(set(read) & set(texts)) for read, (_, _, texts) in zip(readings, receipts, strict=True))
    assert read_right >= 0.6 * len(written), (readings, [texts for _, _, texts in receipts])
