"""The wine service on the real local stack: seed, retrain, predict with probabilities, store examples, schema."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg2
import pytest
from api_servers import ApiProcess, start_api, train

from builders import clone_service
from mlseam.local.stack import LocalStack
from mlseam.manifest import Service, load_service
from mlseam.settings import Settings
from mlseam.stores import build_stores


@dataclass
class Served:
    settings: Settings
    api: ApiProcess
    name: str

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
    name = clone_service(services_dir, "wine")
    train(settings, build_stores(settings), name)  # the whole demo seed, and one retrain
    api = start_api(settings, [name], tmp_path_factory.mktemp("logs"))
    yield Served(settings, api, name)
    assert api.stop() == 0, api.logs()


def _wines(served: Served) -> list[tuple[dict[str, float], str]]:
    return list(served.service.load_seed()())


def test_the_retrained_model_tells_cultivars_apart_with_probabilities(served: Served) -> None:
    wines = _wines(served)[::4]
    response = httpx.post(served.url("/v1/predict"), json={"inputs": [row for row, _ in wines]}, timeout=30)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert all(set(output) == {"label", "probabilities", "prediction_id"} for output in outputs)
    assert all(set(output["probabilities"]) == {"0", "1", "2"} for output in outputs)
    assert all(max(o["probabilities"], key=o["probabilities"].__getitem__) == o["label"] for o in outputs)
    assert sum(o["label"] == cultivar for o, (_, cultivar) in zip(outputs, wines, strict=True)) >= 0.9 * len(wines)
    model = httpx.get(served.url("/v1/model")).json()
    assert model["primary_metric"] == "macro_f1" and model["metrics"]["macro_f1"] > 0.85
    assert "accuracy" in model["metrics"] and model["train_count"] + model["holdout_count"] == 178


def test_posted_examples_land_in_the_tabular_classification_table(served: Served) -> None:
    (row, _), (other, _) = _wines(served)[:2]
    examples = [{"input": row, "label": "2", "external_id": "cellar-9/lot-4"}, {"input": other, "label": "0"}]
    url = served.url("/v1/examples")
    first = httpx.post(url, json={"examples": examples})
    assert first.status_code == 201 and first.json() == {"received": 2, "stored": 2, "corrected": 0}, first.text
    with psycopg2.connect(served.settings.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT label, input, features FROM tabular_classification_examples "
            "WHERE service = %s AND source = 'api' ORDER BY id",
            (served.name,),
        )
        rows = cur.fetchall()
    conn.close()
    features = served.service.kind.features  # type: ignore[attr-defined]
    assert rows == [("2", row, [row[f] for f in features]), ("0", other, [other[f] for f in features])]
    bad = httpx.post(url, json={"examples": [examples[0], {"input": row, "label": "3"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "examples[1].label"
    assert bad.json()["error"]["message"] == (
        "examples[1].label: '3' is not one of the labels in service.yaml ('0', '1', '2')"
    )


def test_a_measurement_outside_its_range_is_refused_naming_item_and_feature(served: Served) -> None:
    rows = [row for row, _ in _wines(served)[:4]]
    rows[3] = {**rows[3], "alcohol": 40.0}
    response = httpx.post(served.url("/v1/predict"), json={"inputs": rows})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["index"], error["field"]) == (3, "inputs[3].alcohol")
    assert error["message"] == "inputs[3].alcohol: Input should be less than or equal to 18"


def test_the_openapi_document_names_every_measurement_and_the_cultivars(served: Served) -> None:
    schema = httpx.get(served.url("/openapi.json")).json()
    components = schema["components"]["schemas"]
    example = next(value for key, value in components.items() if key.endswith("Example"))
    features = components[example["properties"]["input"]["$ref"].rsplit("/", 1)[1]]
    assert list(features["properties"]) == served.service.kind.features  # type: ignore[attr-defined]
    assert features["properties"]["proline"] == {"type": "number", "minimum": 0, "maximum": 3000, "title": "Proline"}
    assert example["properties"]["label"]["enum"] == ["0", "1", "2"]
