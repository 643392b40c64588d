"""A pending challenger on a real API process: it answers a share of requests in shadow, in its own process."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml
from api_servers import ApiProcess, start_api

from builders import linear_examples, linear_service
from builders import run_mlseam as mlseam
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.predictionlog import LoggedRequest
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores
from mlseam.training import Retrainer

INPUTS = [{"x1": float(i), "x2": 2.0, "x3": -1.0} for i in range(5)]
SHADOW = {"share": 1.0, "timeout": "1s", "min_labelled": 20}


def _rewrite(settings: Settings, name: str, **fields: Any) -> None:
    path = settings.services_dir / name / "service.yaml"
    manifest = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**manifest, **fields}))


def _retrain(settings: Settings, stores: Stores, name: str, *, force: bool, status: Status) -> None:
    outcome = Retrainer.for_settings(load_service(name, settings.services_dir), stores, settings).run(force=force)
    assert outcome.record is not None and outcome.record.status is status, outcome.summary


def _eventually(condition: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s")


def _metric(api: ApiProcess, name: str, **labels: str) -> float:
    text = httpx.get(api.url(f"/{labels['service']}/metrics")).text
    total = 0.0
    for found, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, flags=re.MULTILINE):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', found))
        if all(pairs.get(key) == wanted for key, wanted in labels.items()):
            total += float(value)
    return total


def _predict(api: ApiProcess, name: str, inputs: list[dict[str, float]]) -> dict[str, Any]:
    answer = httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": inputs}, timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _without_ids(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in output.items() if k != "prediction_id"} for output in answer["outputs"]]


def _shadow_row(stores: Stores, name: str, champion_first_id: str) -> LoggedRequest:
    assert stores.predictions is not None
    since = time.time() - 3600

    def found() -> LoggedRequest | None:
        rows = stores.predictions.shadow_rows(name, since=_utc(since))  # type: ignore[union-attr]
        return next((row for row in rows if row.shadow_of == champion_first_id), None)

    return _eventually(found)  # type: ignore[no-any-return]


def _utc(seconds: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC)


def _children(api: ApiProcess) -> list[list[str]]:
    return [child.cmdline() for child in psutil.Process(api.process.pid).children(recursive=True)]


def _challenger_loaded(api: ApiProcess, name: str, version: str) -> None:
    _eventually(lambda: _metric(api, "mlseam_shadow_loaded", service=name, version=version) == 1.0)


@dataclass
class Shadowed:
    settings: Settings
    stores: Stores
    api: ApiProcess
    name: str
    before: list[dict[str, Any]]
    """The champion's answers to INPUTS before a challenger existed."""
    children_before: list[list[str]]


@pytest.fixture(scope="module")
def shadowed(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shadowed]:
    """v1 champion served; then v2 (TroubledModel, pending approval) fitted while the API runs."""
    settings = stack_settings.model_copy(update={"services_dir": tmp_path_factory.mktemp("services")})
    stores = build_stores(settings)
    name = linear_service(settings.services_dir, shadow=SHADOW)
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(60, seed=1), source="t")
    _retrain(settings, stores, name, force=False, status=Status.PROMOTED)
    # Under approve the API may hold a challenger (Manifest.may_shadow), so it watches for one.
    _rewrite(settings, name, promotion={"local": "approve"})
    api = start_api(settings, [name], tmp_path_factory.mktemp("logs"))
    before = _without_ids(_predict(api, name, INPUTS))
    children_before = _children(api)
    # The API polls the registry: a pending version appearing meanwhile is picked up as challenger.
    _rewrite(settings, name, model="model.py:TroubledModel")
    _retrain(settings, stores, name, force=True, status=Status.PENDING)
    _rewrite(settings, name, model="model.py:LinearModel")
    _challenger_loaded(api, name, "v2")
    yield Shadowed(settings, stores, api, name, before, children_before)
    assert api.stop() == 0, api.logs()


def test_there_is_no_challenger_process_until_a_challenger_exists_then_one(shadowed: Shadowed) -> None:
    assert shadowed.children_before == []
    children = _children(shadowed.api)
    assert len(children) == 1 and "mlseam.runtime.shadow.child" in children[0]


def test_the_model_endpoint_names_the_challenger_in_shadow_and_its_share(shadowed: Shadowed) -> None:
    model = httpx.get(shadowed.api.url(f"/{shadowed.name}/v1/model")).json()
    assert model["version"] == "v1"
    assert model["challenger"] == {"version": "v2", "share": SHADOW["share"]}
    assert model["pending"]["version"] == "v2"


def test_the_champion_answers_the_same_with_a_challenger_in_shadow(shadowed: Shadowed) -> None:
    # when
    answer = _predict(shadowed.api, shadowed.name, INPUTS)
    # then
    assert answer["model_version"] == "v1"
    assert _without_ids(answer) == shadowed.before


def test_the_challenger_answer_is_logged_with_its_own_ids_and_version_beside_the_champions(
    shadowed: Shadowed,
) -> None:
    # when
    answer = _predict(shadowed.api, shadowed.name, INPUTS)
    # then
    champion_ids = [output["prediction_id"] for output in answer["outputs"]]
    row = _shadow_row(shadowed.stores, shadowed.name, champion_ids[0])
    assert (row.version, row.outcome, row.count) == ("v2", None, len(INPUTS))
    assert row.latency_ms is not None and row.latency_ms >= 0
    predictions = list(row.predictions())
    assert [p.shadow_of for p in predictions] == champion_ids
    assert not {p.prediction_id for p in predictions} & set(champion_ids)
    assert shadowed.stores.predictions is not None
    champion = shadowed.stores.predictions.lookup(shadowed.name, champion_ids)
    assert {p.version for p in champion.values()} == {"v1"}
    assert row.request_id is not None and row.request_id == champion[champion_ids[0]].request_id


def test_a_challenger_that_raises_is_counted_and_the_champion_answers(shadowed: Shadowed) -> None:
    # when
    answer = _predict(shadowed.api, shadowed.name, [{"x1": 666.0, "x2": 0.0, "x3": 0.0}])
    # then
    assert answer["model_version"] == "v1" and "value" in answer["outputs"][0]
    row = _shadow_row(shadowed.stores, shadowed.name, answer["outputs"][0]["prediction_id"])
    assert row.outcome == "error" and "cannot take x1 == 666" in str(row.answer)
    labels = {"service": shadowed.name, "version": "v2", "outcome": "error"}
    assert _metric(shadowed.api, "mlseam_shadow_requests_total", **labels) >= 1


def test_a_challenger_that_hangs_is_timed_out_and_restarted_while_the_champion_keeps_answering(
    shadowed: Shadowed,
) -> None:
    api, name = shadowed.api, shadowed.name
    # when: the challenger sleeps 10 s on this request (its timeout is 1 s)
    hanging = _predict(api, name, [{"x1": 999.0, "x2": 0.0, "x3": 0.0}])
    # then: the champion answers every request meanwhile, each well within a generous bound
    started = time.monotonic()
    while time.monotonic() - started < 3:
        sent = time.monotonic()
        assert _predict(api, name, INPUTS[:1])["model_version"] == "v1"
        assert time.monotonic() - sent < 1.0
    row = _shadow_row(shadowed.stores, name, hanging["outputs"][0]["prediction_id"])
    assert row.outcome == "timeout" and row.latency_ms is not None and row.latency_ms < 5000
    assert _metric(api, "mlseam_shadow_requests_total", service=name, version="v2", outcome="timeout") >= 1
    assert _metric(api, "mlseam_shadow_restarts_total", service=name, reason="timeout") >= 1
    # and the restarted challenger answers again
    _challenger_loaded(api, name, "v2")
    after = _predict(api, name, INPUTS[:2])
    assert _shadow_row(shadowed.stores, name, after["outputs"][0]["prediction_id"]).outcome is None


def test_status_shows_the_challengers_agreement_errors_and_latency(shadowed: Shadowed) -> None:
    # given
    answer = _predict(shadowed.api, shadowed.name, INPUTS)
    _shadow_row(shadowed.stores, shadowed.name, answer["outputs"][0]["prediction_id"])
    # when
    status = mlseam(shadowed.settings, "status", shadowed.name)
    # then
    assert status.returncode == 0, status.stderr
    assert f"{shadowed.name}: in shadow now: v2 (pending) on 100% of requests" in status.stdout
    overview = mlseam(shadowed.settings, "status").stdout
    assert any(shadowed.name in line and "v2 at 100%" in line for line in overview.splitlines()), overview
    line = next(line for line in status.stdout.splitlines() if "v2 in shadow:" in line)
    assert "error rate" in line and "agrees with the champion on 100.0% of" in line
    assert re.search(r"error [1-9]", line) and re.search(r"timeout [1-9]", line)
    assert re.search(r"latency p50 [\d.]+ ms, p95 [\d.]+ ms \(champion v1: p50", line)


def _label_shadowed(shadowed: Shadowed, count: int, seed: int) -> None:
    """``count`` requests answered by both, then their labels sent by the champion's prediction ids."""
    examples = linear_examples(count, seed=seed)
    answer = _predict(shadowed.api, shadowed.name, [example.input for example in examples])
    ids = [output["prediction_id"] for output in answer["outputs"]]
    _shadow_row(shadowed.stores, shadowed.name, ids[0])
    labels = [{"prediction_id": pid, "label": ex.label} for pid, ex in zip(ids, examples, strict=True)]
    stored = httpx.post(shadowed.api.url(f"/{shadowed.name}/v1/examples"), json={"examples": labels}, timeout=10)
    assert stored.status_code == 201 and stored.json()["stored"] == count, stored.text


def test_labels_of_shadowed_requests_give_the_challenger_live_metrics_and_its_is_better(shadowed: Shadowed) -> None:
    # given
    _label_shadowed(shadowed, 25, seed=5)
    # when
    monitored = mlseam(shadowed.settings, "monitor", shadowed.name)
    # then
    assert monitored.returncode == 0, monitored.stderr
    record = shadowed.stores.registry.get_version(shadowed.name, "v2")
    assert record.live is not None and record.live["labelled"] >= 25 and "rmse" in record.live["metrics"]
    versus = record.live["versus_champion"]
    assert versus["champion"] == "v1" and versus["labelled"] >= 25 and versus["better"] is True
    assert versus["decided"] is True and "rmse" in versus["champion_metrics"]
    assert "better by its is_better (decided)" in monitored.stdout
    # under `approve` the operator decides: still pending, and the evidence is in status
    assert record.status is Status.PENDING
    status = mlseam(shadowed.settings, "status", shadowed.name)
    assert re.search(r"v2 on \d+ labelled shadowed requests: rmse [\d.]+ vs champion v1 [\d.]+", status.stdout)


def test_a_winner_waiting_in_shadow_is_promoted_only_once_the_comparison_is_decided(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: v1 champion; v2 won on the holdout and waits in shadow
    name = linear_service(settings.services_dir, model="EagerModel", shadow={**SHADOW, "auto_after_shadow": True})
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(60, seed=1), source="t")
    _retrain(settings, stores, name, force=False, status=Status.PROMOTED)
    _retrain(settings, stores, name, force=True, status=Status.PENDING)
    assert "pending the live comparison in shadow" in stores.registry.get_version(name, "v2").reason
    api = start_api(settings, [name], tmp_path)
    try:
        _challenger_loaded(api, name, "v2")
        shadowed = Shadowed(settings, stores, api, name, [], [])
        # when: fewer labelled shadowed requests than min_labelled
        _label_shadowed(shadowed, 10, seed=7)
        early = mlseam(settings, "monitor", name)
        # then: undecided, still pending
        assert early.returncode == 0, early.stderr
        assert "not decided yet: needs 20" in early.stdout
        assert stores.registry.get_version(name, "v2").status is Status.PENDING
        # when: enough of them
        _label_shadowed(shadowed, 15, seed=8)
        decided = mlseam(settings, "monitor", name)
        # then: its is_better said so, and the monitor promoted it
        assert f"{name} v2: won in shadow" in decided.stdout, decided.stdout
        champion = stores.registry.get_champion(name)
        assert champion is not None and champion.version == "v2"
        assert stores.registry.history(name)[-1].actor == "monitor"
        assert stores.registry.get_version(name, "v2").status is Status.PROMOTED
    finally:
        assert api.stop() == 0, api.logs()


def test_an_api_whose_service_can_never_shadow_here_loads_no_challenger(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: v2 pending from when the service was under approve; now its policy is auto again
    name = linear_service(settings.services_dir, model="EagerModel", shadow=SHADOW)
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(60, seed=1), source="t")
    _retrain(settings, stores, name, force=False, status=Status.PROMOTED)
    _rewrite(settings, name, promotion={"local": "approve"})
    _retrain(settings, stores, name, force=True, status=Status.PENDING)
    _rewrite(settings, name, promotion={"local": "auto"})
    assert not load_service(name, settings.services_dir).manifest.may_shadow("local")
    # when
    api = start_api(settings, [name], tmp_path)
    try:
        _predict(api, name, INPUTS)
        time.sleep(3 * settings.poll_interval_s + 0.5)
        # then: no process, nothing loaded (as Terraform sizes no memory for one)
        assert _children(api) == []
        assert "mlseam_shadow_loaded{" not in httpx.get(api.url(f"/{name}/metrics")).text
        assert httpx.get(api.url(f"/{name}/v1/model")).json()["challenger"] is None
    finally:
        assert api.stop() == 0, api.logs()
