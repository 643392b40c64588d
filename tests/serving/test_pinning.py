"""X-Model-Version on a running API: a former champion answers, unknown or never-served versions are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from api_servers import ApiProcess, start_api

from builders import linear_examples, linear_service
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.registry import ModelVersion, Status
from mlseam.settings import Settings
from mlseam.stores import build_stores
from mlseam.training import Retrainer

INPUT = {"x1": 1.0, "x2": 2.0, "x3": 3.0}


@dataclass
class Pinning:
    api: ApiProcess
    name: str


@pytest.fixture(scope="module")
def pinning(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pinning]:
    """Champions v1, v2, then v3 (serving); v4 stored but never champion; an API caching one pinned version."""
    settings = stack_settings.model_copy(update={"services_dir": tmp_path_factory.mktemp("services")})
    stores = build_stores(settings)
    name = linear_service(settings.services_dir, model="EagerModel")
    service = load_service(name, settings.services_dir)
    stores.examples.add(name, service.kind, linear_examples(60, seed=1), source="t")
    for force in (False, True, True):
        outcome = Retrainer.for_settings(service, stores, settings).run(force=force)
        assert outcome.record is not None and outcome.record.status is Status.PROMOTED, outcome.summary
    never = ModelVersion(service=name, number=stores.registry.allocate_version(name))
    stores.registry.create_version(never)
    v1 = stores.registry.get_version(name, "v1")
    never.status, never.artifact_key, never.artifact_sha256 = Status.KEPT, v1.artifact_key, v1.artifact_sha256
    stores.registry.update_version(never)
    api = start_api(settings, [name], tmp_path_factory.mktemp("logs"), MLSEAM_PINNED_CACHE_SIZE="1")
    yield Pinning(api, name)
    assert api.stop() == 0, api.logs()


def _predict(pinning: Pinning, version: str | None) -> httpx.Response:
    headers = {"X-Model-Version": version} if version is not None else {}
    return httpx.post(pinning.api.url(f"/{pinning.name}/v1/predict"), json={"inputs": [INPUT]}, headers=headers)


def _loads(pinning: Pinning) -> list[str]:
    """The versions the API loaded for pinned requests, in order."""
    lines = [json.loads(line) for line in pinning.api.logs().splitlines() if line.startswith("{")]
    return [line["version"] for line in lines if line.get("message") == "pinned version loaded"]


def test_a_pinned_request_is_answered_by_the_former_champion_it_names(pinning: Pinning) -> None:
    # when
    pinned = _predict(pinning, "v1")
    # then
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["model_version"] == "v1" and len(pinned.json()["outputs"]) == 1
    assert _predict(pinning, None).json()["model_version"] == "v3"
    assert _predict(pinning, "V2").json()["model_version"] == "v2"
    assert _predict(pinning, "v3").json()["model_version"] == "v3"  # the champion: no pinned load


def test_an_unknown_version_is_404_naming_it(pinning: Pinning) -> None:
    unknown = _predict(pinning, "v99")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == f"X-Model-Version v99: {pinning.name} has no version v99"
    garbage = _predict(pinning, "latest")
    assert garbage.status_code == 404 and "'latest' is not a version name" in garbage.json()["error"]["message"]


def test_a_version_that_never_served_as_champion_is_409(pinning: Pinning) -> None:
    refused = _predict(pinning, "v4")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        f"X-Model-Version v4: {pinning.name} v4 never served as champion (status kept); "
        "only a version that answered requests can be pinned"
    )


def test_the_cache_of_pinned_versions_holds_no_more_than_its_size(pinning: Pinning) -> None:
    # given: a cache of one version
    before = _loads(pinning)
    # when: v1, v1 again, v2, then v1
    for version in ("v1", "v1", "v2", "v1"):
        assert _predict(pinning, version).json()["model_version"] == version
    # then: v1's repeat came from the cache; v2 evicted v1, so v1 was loaded again
    assert _loads(pinning)[len(before) :] == (["v1"] if before[-1:] != ["v1"] else []) + ["v2", "v1"]
    metrics = httpx.get(pinning.api.url(f"/{pinning.name}/metrics")).text
    assert f'mlseam_pinned_versions_loaded{{service="{pinning.name}"}} 1.0' in metrics


def test_the_header_is_documented_on_the_predict_route(pinning: Pinning) -> None:
    schema = httpx.get(pinning.api.url(f"/{pinning.name}/openapi.json")).json()
    (parameter,) = [p for p in schema["paths"]["/v1/predict"]["post"]["parameters"] if p["in"] == "header"]
    assert parameter["name"] == "x-model-version" and "former champion" in parameter["description"]
    assert {"404", "409"} <= set(schema["paths"]["/v1/predict"]["post"]["responses"])
