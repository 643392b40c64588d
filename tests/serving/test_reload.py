"""Hot reload and resilience of a running API process: promotions, outages, tampering, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from api_servers import ApiProcess, start_api, train

from builders import linear_examples, linear_service, stack_env
from mlseam.artifacts import S3ArtifactStore, create_bucket, create_signing_key
from mlseam.aws import aws_client
from mlseam.local.ports import free_port
from mlseam.manifest import load_service
from mlseam.registry import create_registry_table
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores

GOOD = {"x1": 1.0, "x2": 2.0, "x3": 3.0}


def _two_versions(settings: Settings, stores: Stores) -> str:
    """A service with champion v1 and a stored, unpromoted v2 that predicts differently."""
    name = linear_service(settings.services_dir, model="StubbornModel")
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(50, seed=1, garbage=True), source="t")
    train(settings, stores, name)
    stores.examples.add(name, kind, linear_examples(200, seed=2), source="t")
    train(settings, stores, name)
    assert stores.registry.get_champion(name).version == "v1"  # type: ignore[union-attr]
    return name


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _served_version(api: ApiProcess, name: str) -> str:
    response = httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": [GOOD]})
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"])


def _metric(api: ApiProcess, name: str, prefix: str) -> float:
    for line in httpx.get(api.url(f"/{name}/metrics")).text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


class Load:
    """Callers predicting in a loop until stopped; every answer is kept."""

    def __init__(self, api: ApiProcess, name: str, callers: int = 6) -> None:
        self.url = api.url(f"/{name}/v1/predict")
        self.results: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self.answered: set[str] = set()  # request ids that got a 200
        self.unanswered: set[str] = set()  # request ids whose connection failed
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call) for _ in range(callers)]

    def _call(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    response = client.post(self.url, json={"inputs": [GOOD]}, headers={"X-Request-ID": request_id})
                except httpx.ConnectError:
                    self.errors.append("refused")  # never accepted: nothing was lost
                    time.sleep(0.01)
                    continue
                except httpx.TransportError as exc:
                    self.errors.append(f"connection failed: {exc!r}")
                    self.unanswered.add(request_id)
                    continue
                version = response.json().get("model_version", "") if response.status_code == 200 else ""
                self.results.append((response.status_code, version))
                if response.status_code == 200:
                    self.answered.add(request_id)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def versions(self) -> list[str]:
        return [version for _, version in self.results]


def test_promote_and_rollback_under_load_fail_no_request(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    # given: an API serving v1 under steady load
    name = _two_versions(settings, stores)
    api = start_api(settings, [name], tmp_path)
    env = stack_env(settings)
    try:
        with Load(api, name) as load:
            assert _wait_for(lambda: len(load.results) > 20)
            # when: an operator promotes v2, then rolls back
            promote = subprocess.run(
                [sys.executable, "-m", "mlseam.cli", "promote", name, "v2"], env=env, capture_output=True, text=True
            )
            assert promote.returncode == 0, promote.stderr
            assert _wait_for(lambda: "v2" in load.versions()[-5:]), "v2 never served"
            rollback = subprocess.run(
                [sys.executable, "-m", "mlseam.cli", "rollback", name], env=env, capture_output=True, text=True
            )
            assert rollback.returncode == 0, rollback.stderr
            assert _wait_for(lambda: load.versions()[-5:] == ["v1"] * 5), "v1 never came back"
        # then: both versions served, not one request failed
        assert not load.errors
        assert {status for status, _ in load.results} == {200}
        versions = load.versions()
        first_v2, last_v2 = versions.index("v2"), len(versions) - 1 - versions[::-1].index("v2")
        assert set(versions[:first_v2]) == {"v1"} and set(versions[last_v2 + 1 :]) == {"v1"}
        assert _metric(api, name, f'mlseam_model_reloads_total{{result="success",service="{name}"}}') >= 3
    finally:
        assert api.stop() == 0, api.logs()


def test_the_api_keeps_serving_when_registry_and_s3_go_away(settings: Settings, tmp_path: Path) -> None:
    # given: an AWS emulator of its own, which the test can kill
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        own = settings.model_copy(update={"aws_endpoint_url": f"http://127.0.0.1:{port}"})
        assert _wait_for(lambda: _answers(own.aws_endpoint_url or ""), 30)
        create_bucket(aws_client(own, "s3"), own.artifacts_bucket, own.aws_region)
        create_registry_table(aws_client(own, "dynamodb"), own.registry_table)
        create_signing_key(aws_client(own, "kms"), own.signing_key_id or "")
        stores = build_stores(own)
        name = linear_service(own.services_dir)
        stores.examples.add(name, load_service(name, own.services_dir).kind, linear_examples(60, seed=3), source="t")
        train(own, stores, name)
        api = start_api(own, [name], tmp_path)
        try:
            # when: DynamoDB and S3 disappear
            emulator.kill()
            emulator.wait()
            failures = f'mlseam_model_reloads_total{{result="failure",service="{name}"}}'
            assert _wait_for(lambda: _metric(api, name, failures) >= 2, 20)
            # then: predictions, readiness and model info carry on
            assert _served_version(api, name) == "v1"
            assert httpx.get(api.url(f"/{name}/readyz")).status_code == 200
            assert httpx.get(api.url(f"/{name}/v1/model")).json()["version"] == "v1"
            assert "champion reload failed; keeping the current model" in api.logs()
        finally:
            assert api.stop() == 0, api.logs()
    finally:
        emulator.kill()
        emulator.wait()


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return False
    return True


def test_a_tampered_artifact_is_never_loaded(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    # given: v2's artifact is altered in S3, then v2 is pointed at directly (bypassing the CLI's check)
    name = _two_versions(settings, stores)
    api = start_api(settings, [name], tmp_path)
    try:
        v2 = stores.registry.get_version(name, "v2")
        assert isinstance(stores.artifacts, S3ArtifactStore) and v2.artifact_key
        stores.artifacts.client.put_object(Bucket=settings.artifacts_bucket, Key=v2.artifact_key, Body=b"evil")
        stores.registry.move_champion(name, "v2", expected_revision=1, action="promote", reason="tampered")
        # when: the API polls
        failures = f'mlseam_model_reloads_total{{result="failure",service="{name}"}}'
        assert _wait_for(lambda: _metric(api, name, failures) >= 1)
        # then: v1 keeps serving, v2 was refused before unpickling
        assert _served_version(api, name) == "v1"
        assert "ArtifactIntegrityError" in api.logs()
    finally:
        api.stop()
    # and a fresh API that can only find the tampered champion is not ready, and says why
    fresh = start_api(settings, [name], tmp_path, ready=False)
    try:
        assert _wait_for(lambda: httpx.get(fresh.url(f"/{name}/readyz")).status_code == 503)
        body = httpx.get(fresh.url(f"/{name}/readyz")).json()
        assert body["status"] == "load failed" and "ArtifactIntegrityError" in body["reason"]
        # a champion that cannot be loaded fails the load balancer's check too: such a deploy rolls back
        liveness = httpx.get(fresh.url(f"/{name}/livez"))
        assert liveness.status_code == 503 and liveness.json() == body
        assert httpx.post(fresh.url(f"/{name}/v1/predict"), json={"inputs": [GOOD]}).status_code == 503
    finally:
        fresh.stop()


def test_a_new_champion_is_served_without_restart(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    # given: an API started before its service has any model
    name = linear_service(settings.services_dir)
    api = start_api(settings, [name], tmp_path, ready=False)
    try:
        readiness = httpx.get(api.url(f"/{name}/readyz"))
        assert readiness.status_code == 503 and readiness.json()["status"] == "no model yet"
        # and the load balancer's check passes, with the reason, so a first deploy is not rolled back
        liveness = httpx.get(api.url(f"/{name}/livez"))
        assert liveness.status_code == 200
        assert liveness.json() == {
            "status": "no model yet",
            "model_version": None,
            "reason": readiness.json()["reason"],
        }
        assert "has no champion yet" in liveness.json()["reason"]
        # when: examples arrive through the API and a retrain runs
        examples = [{"input": e.input, "label": e.label} for e in linear_examples(60, seed=4)]
        assert httpx.post(api.url(f"/{name}/v1/examples"), json={"examples": examples}).status_code == 201
        retrain = subprocess.run(
            [sys.executable, "-m", "mlseam.cli", "retrain", name], env=stack_env(settings), capture_output=True
        )
        assert retrain.returncode == 0
        # then: the API serves it within the poll interval
        assert _wait_for(lambda: httpx.get(api.url(f"/{name}/readyz")).status_code == 200)
        assert httpx.get(api.url(f"/{name}/v1/model")).json()["version"] == "v1"
        assert httpx.get(api.url(f"/{name}/livez")).json() == {"status": "ready", "model_version": "v1"}
    finally:
        assert api.stop() == 0


def test_sigterm_during_load_loses_no_accepted_request(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    name = _two_versions(settings, stores)
    api = start_api(settings, [name], tmp_path)
    with Load(api, name, callers=8) as load:
        assert _wait_for(lambda: len(load.results) > 50)
        code = api.stop(signal.SIGTERM)
        time.sleep(0.3)
    assert code == 0, api.logs()
    assert {status for status, _ in load.results} == {200}
    # Every request the server accepted (its access log has it) was answered with a 200; a
    # connection that failed carried a request the server never read (a keep-alive race).
    accepted = _logged_request_ids(api)
    assert load.answered <= accepted
    assert not (load.unanswered & accepted)
    assert accepted - load.answered - load.unanswered == set()


def _logged_request_ids(api: ApiProcess) -> set[str]:
    ids = set()
    for line in api.logs().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == "request" and entry.get("path", "").endswith("/v1/predict"):
                ids.add(entry["request_id"])
    return ids


def test_bearer_token_guards_the_v1_routes_and_metrics_only(settings: Settings, stores: Stores, tmp_path: Path) -> None:
    name = linear_service(settings.services_dir)
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(40, seed=5), source="t")
    train(settings, stores, name)
    api = start_api(settings, [name], tmp_path, MLSEAM_AUTH_REQUIRED="true", MLSEAM_API_TOKEN="s3cret")  # noqa: S106 - a test token
    try:
        url = api.url(f"/{name}/v1/predict")
        refused = httpx.post(url, json={"inputs": [GOOD]})
        assert refused.status_code == 401 and "Authorization: Bearer" in refused.json()["error"]["message"]
        wrong = httpx.post(url, json={"inputs": [GOOD]}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        # the scheme is case-insensitive (RFC 7235)
        for scheme in ("Bearer", "bearer", "BEARER"):
            ok = httpx.post(url, json={"inputs": [GOOD]}, headers={"Authorization": f"{scheme} s3cret"})
            assert ok.status_code == 200, scheme
        model = httpx.get(api.url(f"/{name}/v1/model"), headers={"Authorization": "bearer s3cret"})
        assert model.status_code == 200
        assert httpx.get(api.url(f"/{name}/v1/model")).status_code == 401
        assert httpx.get(api.url(f"/{name}/metrics")).status_code == 401
        assert httpx.get(api.url(f"/{name}/metrics"), headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert httpx.get(api.url(f"/{name}/readyz")).status_code == 200
        assert httpx.get(api.url(f"/{name}/healthz")).status_code == 200
    finally:
        api.stop()


def test_auth_on_without_a_token_refuses_to_start(settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlseam.cli", "serve"],
        env=stack_env(settings, MLSEAM_AUTH_REQUIRED="true"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "set MLSEAM_API_TOKEN or MLSEAM_API_TOKEN_SECRET_ID" in result.stderr
