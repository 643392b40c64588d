"""The service image built from docker/Dockerfile with podman and run as ECS runs it, on the local stack.

The base is a Debian bookworm made by ``scripts/build-base`` (mmdebstrap, imported into podman), as
no image registry may be reachable; ``--build-arg BASE=`` puts it under the Dockerfile. The container
runs with a read-only root filesystem, as its own unprivileged user, on the host's network so it
reaches the test stack on loopback. Without podman or mmdebstrap the module skips, unless
``MLSEAM_REQUIRE_IMAGE=1`` (``make test-image``, as CI runs it) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from builders import run_mlseam
from mlseam.artifacts.store import create_bucket
from mlseam.aws import aws_client
from mlseam.local.ports import free_port
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.registry import create_registry_table
from mlseam.runtime import predict_outputs
from mlseam.runtime.loading import load_version
from mlseam.settings import Settings
from mlseam.stores import build_stores

REPO = Path(__file__).resolve().parents[2]
SERVICE = "wine"  # a small tabular model: the build and a retrain take seconds
BASE_IMAGE = os.environ.get("MLSEAM_IMAGE_BASE", "localhost/mlseam-base:bookworm")
IMAGE = f"localhost/mlseam-{SERVICE}:test"
# Podman's defaults ask for rlimits an unprivileged VM refuses, and crun needs a pure cgroup hierarchy.
CONTAINERS_CONF = REPO / "docker" / "containers.conf"
MISSING = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]

pytestmark = [pytest.mark.image, pytest.mark.integration, pytest.mark.timeout(1800)]

if MISSING:
    reason = f"no {' or '.join(MISSING)} on PATH: apt-get install podman runc mmdebstrap"
    if os.environ.get("MLSEAM_REQUIRE_IMAGE") == "1":
        pytest.fail(f"MLSEAM_REQUIRE_IMAGE=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One podman command with the repository's containers.conf; a failure shows its output."""
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"podman {' '.join(args[:3])} ... exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass(frozen=True)
class BuiltImage:
    """The service's image, and how long building it took without and with the layer cache."""

    name: str
    first_build_s: float
    cached_build_s: float
    cached_build_log: str


def build_image(*extra: str) -> tuple[float, str]:
    """Seconds ``podman build`` of docker/Dockerfile on the local base took, and what it printed."""
    started = time.monotonic()
    built = podman(
        "build", *extra, "--format", "docker",  # the OCI format has no HEALTHCHECK
        "--file", "docker/Dockerfile", "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", f"SERVICE={SERVICE}",
        "--tag", IMAGE, str(REPO),
        timeout=1500,
    )  # fmt: skip
    return time.monotonic() - started, built.stdout


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    """The image built once from scratch (the base is made first when missing), then again from cache."""
    base = subprocess.run([str(REPO / "scripts" / "build-base"), BASE_IMAGE], capture_output=True, text=True)
    assert base.returncode == 0, base.stdout + base.stderr
    # The layers of earlier runs' images go first (deleting a gigabyte takes minutes on a busy disk).
    podman("rmi", "--ignore", IMAGE, timeout=600)
    podman("image", "prune", "--force", timeout=600)
    first, _ = build_image("--no-cache")
    cached, log = build_image()
    return BuiltImage(IMAGE, first, cached, log)


@pytest.fixture(scope="module")
def oci_settings(local_stack: LocalStack, stack_settings: Settings) -> Settings:
    """The shared test stack, with a registry table and bucket of this module's own."""
    settings = stack_settings.model_copy(
        update={"registry_table": "mlseam-registry-oci", "artifacts_bucket": "mlseam-artifacts-oci"}
    )
    create_registry_table(aws_client(settings, "dynamodb"), settings.registry_table)
    create_bucket(aws_client(settings, "s3"), settings.artifacts_bucket, settings.aws_region)
    return settings


@pytest.fixture(scope="module")
def champion(oci_settings: Settings) -> str:
    """The service seeded and retrained by the repository's own CLI: the version the container must serve."""
    for args in (("seed", SERVICE), ("retrain", SERVICE)):
        result = run_mlseam(oci_settings, *args)
        assert result.returncode == 0, result.stdout + result.stderr
    current = build_stores(oci_settings).registry.get_champion(SERVICE)
    assert current is not None
    return current.version


def ecs_like_flags(settings: Settings) -> list[str]:
    """``podman run`` flags for a container as ECS runs it: read-only but /tmp, the stack's address given."""
    env = {
        "MLSEAM_DATABASE_URL": settings.dsn,
        "MLSEAM_AWS_ENDPOINT_URL": settings.aws_endpoint_url or "",
        "MLSEAM_REGISTRY_TABLE": settings.registry_table,
        "MLSEAM_ARTIFACTS_BUCKET": settings.artifacts_bucket,
    }
    # podman's --read-only alone leaves /run and /var/tmp writable too; the task definition mounts /tmp only.
    read_only = ["--read-only", "--read-only-tmpfs=false", "--tmpfs=/tmp"]
    return [*read_only, "--network=host", *(f"--env={key}={value}" for key, value in env.items())]


@dataclass(frozen=True)
class Container:
    """A running container of the image, serving on the host's network."""

    name: str
    url: str


@pytest.fixture(scope="module")
def container(image: BuiltImage, oci_settings: Settings, champion: str) -> Iterator[Container]:
    """``serve`` (the image's default command) against the test stack, read-only, as the image's user."""
    name = f"mlseam-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    flags = [*ecs_like_flags(oci_settings), f"--env=MLSEAM_SERVE_PORT={port}"]
    podman("run", "--detach", "--name", name, *flags, image.name)
    try:
        yield Container(name, f"http://127.0.0.1:{port}/{SERVICE}")
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def wait_until_ready(container: Container) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = podman("inspect", "--format", "{{.State.Status}}", container.name).stdout.strip()
        if state != "running":
            pytest.fail(f"the container is {state}:\n{podman('logs', container.name).stderr}")
        try:
            if httpx.get(f"{container.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the container never became ready:\n{podman('logs', container.name).stderr}")


def in_process_outputs(settings: Settings, version: str, inputs: list[Any]) -> list[Any]:
    """What ``version`` predicts for ``inputs`` in this process, as the API writes it (without prediction ids)."""
    service = load_service(SERVICE, REPO / "services")
    stores = build_stores(settings)
    loaded = load_version(service, version, registry=stores.registry, artifacts=stores.artifacts)
    validated = [service.kind.validate_input(value, index=i) for i, value in enumerate(inputs)]
    outputs: list[Any] = orjson.loads(orjson.dumps(predict_outputs(service, loaded.model, validated)))
    return outputs


def demo_inputs(count: int) -> list[Any]:
    rows = iter(load_service(SERVICE, REPO / "services").load_seed()())
    return [next(rows)[0] for _ in range(count)]


def test_the_image_builds_from_scratch_and_then_from_its_layer_cache(
    image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    with capsys.disabled():
        print(f"\n{image.name}: first build {image.first_build_s:.1f} s, cached rebuild {image.cached_build_s:.1f} s")
    # Every RUN of the rebuild (the dependencies' pip install above all) comes from the layer cache.
    lines = image.cached_build_log.splitlines()
    runs = [i for i, line in enumerate(lines) if re.match(r"\[\d+/\d+\] STEP \d+/\d+: RUN ", line)]
    assert runs, image.cached_build_log
    assert all(lines[i + 1].startswith("--> Using cache") for i in runs), image.cached_build_log


def test_the_container_runs_as_its_unprivileged_user_on_a_read_only_root(container: Container) -> None:
    wait_until_ready(container)

    uid = podman("exec", container.name, "id", "-u").stdout.strip()
    written = podman("exec", container.name, "touch", "/app/written", check=False)
    scratch = podman("exec", container.name, "touch", "/tmp/written", check=False)  # noqa: S108 - its scratch volume

    assert uid == "10001"
    assert written.returncode != 0 and "Read-only file system" in written.stderr
    assert scratch.returncode == 0, scratch.stderr


def test_the_container_predicts_what_its_champion_predicts_in_process(
    container: Container, oci_settings: Settings, champion: str
) -> None:
    # given: a few demo wines, and the champion's answer computed here
    inputs = demo_inputs(5)
    expected = in_process_outputs(oci_settings, champion, inputs)
    wait_until_ready(container)

    # when
    answer = httpx.post(f"{container.url}/v1/predict", json={"inputs": inputs}, timeout=30)

    # then: the same outputs, from the same version
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_version"] == champion
    assert [{k: v for k, v in output.items() if k != "prediction_id"} for output in body["outputs"]] == expected


def test_the_image_healthcheck_passes_on_a_serving_container(container: Container) -> None:
    wait_until_ready(container)

    result = podman("healthcheck", "run", container.name, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_retrains_its_service_on_a_read_only_root(image: BuiltImage, oci_settings: Settings) -> None:
    # when: the scheduled retrain task's command, forced to fit a candidate
    result = podman("run", "--rm", *ecs_like_flags(oci_settings), image.name, "retrain", "--force", timeout=600)

    # then: a candidate was fitted and judged (kept or promoted): nothing it wrote needed more than /tmp
    assert f"{SERVICE} v2 " in result.stdout and "fitted because forced" in result.stdout, result.stdout


def test_the_container_exits_0_on_sigterm(container: Container) -> None:
    # given: a serving container (this test runs last in the module: it stops the shared container)
    wait_until_ready(container)

    # when: it is stopped as ECS stops a task
    podman("kill", "--signal", "TERM", container.name)
    exit_code = podman("wait", container.name, timeout=90).stdout.strip()

    # then
    assert exit_code == "0", podman("logs", container.name).stderr
