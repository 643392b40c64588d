"""Property-based fuzzing of every operation against the API's own OpenAPI schema.

Each generated request must get an answer that is no server error, has a status code the
operation declares and a body its schema describes, alone and in stateful sequences that follow
the schema's links from a created batch to its status.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import schemathesis
from api_servers import Served
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from builders import stack_env
from mlseam.local.stack import demo_input
from mlseam.manifest import load_service

# Minutes of generated requests per service: make test-slow runs them, make test leaves them out.
pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
SERVICES = ["digits", "diabetes", "amounts"]
BATCH_STATUS = "/v1/batches/{batch_id}"
# Every operation of a service; those with parameters or a body are fuzzed with invalid data too.
OPERATIONS = {
    ("POST", "/v1/predict"): True,
    ("POST", "/v1/examples"): True,
    ("POST", "/v1/batches"): True,
    ("GET", BATCH_STATUS): True,
    ("GET", "/v1/model"): False,
    ("GET", "/healthz"): False,
    ("GET", "/livez"): False,
    ("GET", "/readyz"): False,
    ("GET", "/metrics"): False,
}
CASES = [
    pytest.param(which, method, path, mode, id=f"{which}-{method}-{path}-{mode.value}")
    for which in SERVICES
    for (method, path), takes_input in OPERATIONS.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if takes_input or mode is GenerationMode.POSITIVE
]
# Offsets no 64-bit integer holds, and the first one past int64: a finished batch once answered 500.
HUGE_OFFSETS = [10**30, 2**63]


def fuzz_settings(max_examples: int, **extra: Any) -> settings:
    """Hypothesis settings that replay the same cases on every run."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        **extra,
    )


def links_to_batch_status(schema: BaseSchema) -> list[str]:
    """Names of the links, declared or inferred, from a created batch to its status operation."""
    paths = schema.raw_schema["paths"]
    status_id = paths[BATCH_STATUS]["get"].get("operationId")
    status_ref = "#/paths/" + BATCH_STATUS.replace("~", "~0").replace("/", "~1") + "/get"
    return [
        name
        for response in paths["/v1/batches"]["post"]["responses"].values()
        for name, link in response.get("links", {}).items()
        if unquote(link.get("operationRef", "")) == status_ref or (status_id and link.get("operationId") == status_id)
    ]


def assert_conforms(response: Response, case: Case) -> None:
    """The built-in checks, and the error body every failure carries, naming what went wrong."""
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400 and case.path.startswith("/v1/"):
        assert response.json()["error"]["message"], f"{case.method} {case.formatted_path}: {response.text}"


def load_schema(served: Served, which: str) -> BaseSchema:
    """A service's schema as its API serves it, calls going to that API."""
    name = getattr(served, which)
    schema = schemathesis.openapi.from_url(served.api.url(f"/{name}/openapi.json"))
    schema.config.update(base_url=served.api.url(f"/{name}"))
    return schema


@pytest.fixture(scope="module")
def schemas(served: Served) -> dict[str, BaseSchema]:
    """Every fuzzed service's schema, loaded once."""
    return {which: load_schema(served, which) for which in SERVICES}


@pytest.fixture(scope="module")
def workers(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One `mlseam worker` process per service, so that batches finish and have results to page."""
    log_dir = tmp_path_factory.mktemp("worker-logs")
    processes = {}
    for which in SERVICES:
        name = getattr(served, which)
        env = stack_env(served.settings, MLSEAM_WORKER_WAIT_S="1")
        with (log_dir / f"{name}.log").open("wb") as log:
            argv = [sys.executable, "-m", "mlseam.cli", "worker", name]
            processes[name] = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    yield
    for process in processes.values():
        process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        assert process.wait(60) == 0, (log_dir / f"{name}.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def finished_batches(served: Served, workers: None) -> dict[str, str]:
    """Per service, the id of a batch of three demo inputs that has succeeded."""
    ids = {}
    for which in SERVICES:
        name = getattr(served, which)
        inputs = [demo_input(load_service(name, served.settings.services_dir))] * 3
        submitted = httpx.post(served.api.url(f"/{name}/v1/batches"), json={"inputs": inputs}, timeout=60)
        assert submitted.status_code == 202, submitted.text
        ids[which] = submitted.json()["batch_id"]
    for which, batch_id in ids.items():
        url = served.api.url(f"/{getattr(served, which)}/v1/batches/{batch_id}")
        assert wait_until_finished(url) == "succeeded", url
    return ids


def wait_until_finished(url: str, timeout: float = 30) -> str | None:
    """The batch's final status once it has one; None when the id names no batch."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=30)
        if response.status_code != 200:
            return None
        status: str = response.json()["status"]
        if status in ("succeeded", "failed"):
            return status
        assert time.monotonic() < deadline, f"{url} still {status} after {timeout} s"
        time.sleep(0.05)


def batch_status_examples(operation: Any, batch_id: str) -> Callable[[Any], Any]:
    """The finished batch asked for a page past every result, at offsets too large for int64."""

    def decorate(test: Any) -> Any:
        for offset in HUGE_OFFSETS:
            case = operation.Case(path_parameters={"batch_id": batch_id}, query={"offset": offset, "limit": 10})
            test = example(case=case, existing=True)(test)
        return test

    return decorate


@pytest.mark.parametrize("which", SERVICES)
def test_every_operation_the_schema_declares_is_fuzzed(schemas: dict[str, BaseSchema], which: str) -> None:
    declared = {(op.method.upper(), op.path) for op in (result.ok() for result in schemas[which].get_all_operations())}
    assert declared == set(OPERATIONS)


@pytest.mark.parametrize(("which", "method", "path", "mode"), CASES)
def test_every_generated_request_gets_an_answer_its_operation_declares(
    schemas: dict[str, BaseSchema],
    finished_batches: dict[str, str],
    which: str,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    operation = schemas[which][path][method]
    batch_id = finished_batches[which]

    # `existing` sends half the status requests to a real finished batch, whose results page
    # reads offset and limit; the other half names batches that do not exist.
    @fuzz_settings(max_examples=15 if mode is GenerationMode.POSITIVE else 10)
    @given(case=operation.as_strategy(generation_mode=mode), existing=st.booleans())
    def answers_as_declared(case: Case, existing: bool) -> None:
        if existing and path == BATCH_STATUS:
            case.path_parameters = {**(case.path_parameters or {}), "batch_id": batch_id}
        response = case.call(timeout=60)
        assert_conforms(response, case)

    if path == BATCH_STATUS and mode is GenerationMode.POSITIVE:
        answers_as_declared = batch_status_examples(operation, batch_id)(answers_as_declared)
    answers_as_declared()


@pytest.mark.parametrize("which", SERVICES)
def test_sequences_following_the_links_from_a_created_batch_get_declared_answers(
    served: Served, workers: None, which: str
) -> None:
    # A schema of its own: building the state machine adds the links schemathesis infers to it.
    schema = load_schema(served, which)
    machine = schema.as_state_machine()

    class DeclaredAnswers(machine):  # type: ignore[valid-type, misc]
        def before_call(self, case: Case) -> None:
            # A status asked for at once is still queued; a finished one pages its results.
            if case.path == BATCH_STATUS:
                wait_until_finished(served.api.url(f"/{getattr(served, which)}{case.formatted_path}"))

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"timeout": 60}

        def validate_response(self, response: Response, case: Case, *args: Any, **kwargs: Any) -> None:
            assert_conforms(response, case)

    assert links_to_batch_status(schema), "no link leads from a created batch to its status"
    DeclaredAnswers.run(settings=fuzz_settings(max_examples=10, stateful_step_count=4))
