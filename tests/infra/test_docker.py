"""The service image (docker/Dockerfile and .dockerignore), checked without a Docker engine.

The Dockerfile is parsed, and the command the image runs (ENTRYPOINT + CMD, with the image's
environment and its services folder laid out as the image has it) is run here against the local
stack. ``MLSEAM_IMAGE_VENV`` may name another virtualenv to take ``mlseam`` from, e.g. one made
with the image's own ``pip install -c constraints.txt .``, to prove the image needs no extras.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from builders import stack_env
from mlseam.artifacts.store import create_bucket
from mlseam.aws import aws_client
from mlseam.local.ports import free_port
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.registry import create_registry_table
from mlseam.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
SERVICES = sorted(path.parent.name for path in (REPO / "services").glob("*/service.yaml"))
PINNED_IMAGE = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}$")
IMAGE_VENV = Path(os.environ.get("MLSEAM_IMAGE_VENV", sys.prefix))
WILDCARDS = {"**": ".*", "*": "[^/]*", "?": "[^/]"}  # .dockerignore's, as regular expressions


@dataclass
class Stage:
    """One FROM section of a Dockerfile: its base, its name and its instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]


def global_args(text: str) -> dict[str, str]:
    """The ARGs declared before the first FROM, with their defaults: what a FROM line may name."""
    defaults: dict[str, str] = {}
    for line in (raw.strip() for raw in text.splitlines()):
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            break
        if keyword.upper() == "ARG":
            name, _, default = args.strip().partition("=")
            defaults[name] = default.strip('"')
    return defaults


def parse_dockerfile(text: str, build_args: dict[str, str] | None = None) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comments dropped, keywords upper-cased.

    A FROM naming a global ARG gets its default, or its value in ``build_args`` (``--build-arg``).
    """
    variables = {**global_args(text), **(build_args or {})}
    stages: list[Stage] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        logical += line
        if logical.endswith("\\"):
            logical = logical[:-1].rstrip() + " "
            continue
        keyword, _, args = logical.partition(" ")
        logical = ""
        if keyword.upper() == "FROM":
            words = args.split()
            stages.append(
                Stage(
                    substitute(words[0], variables), words[2] if len(words) == 3 and words[1].upper() == "AS" else None
                )
            )
        elif stages:
            stages[-1].instructions.append((keyword.upper(), args.strip()))
    return stages


def substitute(value: str, variables: dict[str, str]) -> str:
    """Docker's ``$NAME`` / ``${NAME}`` substitution; unknown names are left as written."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), value)


@dataclass
class ImageConfig:
    """What the final stage gives a container built with ``--build-arg SERVICE=<service>``."""

    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    user: str
    copies: list[tuple[str, str]]  # (source, destination) with variables substituted


def image_config(service: str) -> ImageConfig:
    """The final stage's config with ``--build-arg SERVICE=<service>``."""
    return stage_config(parse_dockerfile(DOCKERFILE.read_text())[-1], {"SERVICE": service})


def stage_config(final: Stage, build_args: dict[str, str]) -> ImageConfig:
    """What ``final`` gives a container built with ``build_args``."""
    variables = dict(build_args)
    env: dict[str, str] = {}
    copies: list[tuple[str, str]] = []
    for word, args in final.instructions:
        if word == "ARG":
            name, _, default = args.partition("=")
            variables.setdefault(name, default.strip('"'))
        elif word == "ENV":
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                env[name] = variables[name] = substitute(value, variables)
        elif word == "COPY" and not args.startswith("--from"):
            *sources, destination = (substitute(part, variables) for part in args.split())
            copies += [(source, destination) for source in sources]
    return ImageConfig(
        env=env,
        entrypoint=json.loads(final.args("ENTRYPOINT")[-1]),
        cmd=json.loads(final.args("CMD")[-1]),
        user=final.args("USER")[-1],
        copies=copies,
    )


def image_command(*args: str) -> list[str]:
    """The image's ENTRYPOINT with ``args``, its program taken from the image's virtualenv."""
    program, *rest = image_config(SERVICES[0]).entrypoint
    return [str(IMAGE_VENV / "bin" / program), *rest, *args]


# --- the Dockerfile's shape ------------------------------------------------------------------


def test_the_image_is_built_in_stages_from_a_base_pinned_by_tag_and_digest() -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    names = {stage.name for stage in stages}
    external = [stage.base for stage in stages if stage.base not in names]
    assert external and all(PINNED_IMAGE.match(base) for base in external), external
    assert len(stages) >= 2, "a builder stage and a runtime stage"
    assert any(args.startswith("--from=") for args in stages[-1].args("COPY")), "the runtime copies the builder's venv"
    assert not any("pip install" in run for run in stages[-1].args("RUN")), "nothing is installed at runtime"


def test_the_base_is_a_build_argument_whose_default_is_the_pinned_image() -> None:
    text = DOCKERFILE.read_text()
    first = parse_dockerfile(text)[0]
    local = parse_dockerfile(text, {"BASE": "localhost/mlseam-base:bookworm"})[0]

    assert PINNED_IMAGE.match(global_args(text)["BASE"])
    assert first.base == global_args(text)["BASE"]
    assert local.base == "localhost/mlseam-base:bookworm"


def test_dependencies_are_installed_from_the_constraints_without_extras() -> None:
    runs = [run for stage in parse_dockerfile(DOCKERFILE.read_text()) for run in stage.args("RUN")]
    installs = [run for run in runs if "pip install" in run]
    assert installs, "the builder installs the package with pip"
    for install in installs:
        words = install.split()
        assert "-c" in words and words[words.index("-c") + 1] == "constraints.txt", install
        assert "--no-cache-dir" in words, install
        assert words[-1] == ".", f"the base package only: no [local] or [dev] extras in the image: {install}"


def test_the_image_runs_as_an_unprivileged_user_and_serves_on_its_port() -> None:
    config = image_config(SERVICES[0])
    final = parse_dockerfile(DOCKERFILE.read_text())[-1]
    assert config.user.split(":")[0] == "10001", "a fixed unprivileged uid, never root"
    assert final.args("EXPOSE") == [config.env["MLSEAM_SERVE_PORT"]]
    healthcheck = final.args("HEALTHCHECK")[-1]
    assert "urllib" in healthcheck and "healthz" in healthcheck and "MLSEAM_SERVICE" in healthcheck


@pytest.mark.parametrize("service", SERVICES)
def test_one_dockerfile_serves_every_service_from_its_build_argument(service: str) -> None:
    # given: the image of `service`
    config = image_config(service)

    # then: the service is copied where the image looks for services, and is the default argument
    assert config.env["MLSEAM_SERVICE"] == service
    assert (f"services/{service}/", f"{config.env['MLSEAM_SERVICES_DIR']}/{service}/") in config.copies
    assert config.env["MLSEAM_SERVE_HOST"] == "0.0.0.0"  # noqa: S104 - a container listens on its interface
    assert config.env["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem is read-only in ECS
    assert config.entrypoint == ["mlseam"] and config.cmd == ["serve"]
    # and nothing in docker/ names a service: a new services/ folder needs no edit there
    for path in DOCKERFILE.parent.iterdir():
        assert not re.search(rf"\b{re.escape(service)}\b", path.read_text()), path.name


def test_a_build_without_the_service_argument_fails_with_a_message(tmp_path: Path) -> None:
    # given: the runtime stage's guard, which runs before any service is copied
    final = parse_dockerfile(DOCKERFILE.read_text())[-1]
    guard = next(i for i, (word, args) in enumerate(final.instructions) if word == "RUN" and "SERVICE" in args)
    first_copy = next(i for i, (word, args) in enumerate(final.instructions) if word == "COPY" and "services/" in args)
    assert guard < first_copy

    # when: it runs as `docker build` would with an empty SERVICE
    result = subprocess.run(
        ["/bin/sh", "-c", final.instructions[guard][1]],
        env={"PATH": str(tmp_path), "SERVICE": ""},  # no groupadd & co. to reach, whatever happens
        capture_output=True,
        text=True,
        check=False,
    )

    # then
    assert result.returncode != 0
    assert "SERVICE build argument is required" in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "retrain", "migrate"])
def test_the_image_commands_exist(command: str) -> None:
    result = subprocess.run(image_command(command, "--help"), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout


# --- .dockerignore ---------------------------------------------------------------------------


def dockerignored(path: str) -> bool:
    """Whether ``path`` stays out of the build context: the last pattern matching it or a parent wins."""
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in (p for p in patterns if p and not p.startswith("#")):
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        regex = "".join(WILDCARDS.get(piece) or re.escape(piece) for piece in re.split(r"(\*\*|\*|\?)", body))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negated
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".venv-checkov/bin/checkov",
        ".local/postgres/data/PG_VERSION",
        ".git/HEAD",
        "tests/conftest.py",
        "bench/serving.py",
        "infra/terraform/envs/dev/main.tf",
        "infra/terraform/envs/dev/.terraform/providers/x",
        ".mypy_cache/3.11/cache.db",
        "mlseam/__pycache__/cli.cpython-311.pyc",
        "services/digits/__pycache__/model.cpython-311.pyc",
    ],
)
def test_the_build_context_leaves_out_local_state(path: str) -> None:
    assert dockerignored(path)


def test_the_build_context_holds_everything_the_dockerfile_copies() -> None:
    for service in SERVICES:
        for stage in parse_dockerfile(DOCKERFILE.read_text()):
            for args in stage.args("COPY"):
                *sources, _ = (word for word in args.split() if not word.startswith("--"))
                if args.startswith("--from"):
                    continue
                for source in (substitute(word, {"SERVICE": service}) for word in sources):
                    path = REPO / source
                    files = [path] if path.is_file() else [p for p in path.rglob("*") if "__pycache__" not in p.parts]
                    assert files, f"COPY {source}: nothing there"
                    for file in files:
                        assert not dockerignored(file.relative_to(REPO).as_posix()), f"COPY {source}: {file} is ignored"


# --- the image's command, serving a model it trained ----------------------------------------


@pytest.fixture(scope="module")
def image_settings(local_stack: LocalStack, stack_settings: Settings) -> Settings:
    """The shared test stack, with a registry table and bucket of this module's own."""
    settings = stack_settings.model_copy(
        update={"registry_table": "mlseam-registry-image", "artifacts_bucket": "mlseam-artifacts-image"}
    )
    create_registry_table(aws_client(settings, "dynamodb"), settings.registry_table)
    create_bucket(aws_client(settings, "s3"), settings.artifacts_bucket, settings.aws_region)
    return settings


@dataclass
class Container:
    """A service's files laid out as in its image, and the environment its container gets."""

    root: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(image_command(*args), env=self.env, capture_output=True, text=True, check=False)


@pytest.fixture
def container(image_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Container:
    service: str = request.param
    config = image_config(service)
    root = tmp_path / "image"
    for source, destination in config.copies:
        shutil.copytree(REPO / source, root / destination.lstrip("/"))
    image_env = {name: value for name, value in config.env.items() if name != "PATH"}
    image_env["MLSEAM_SERVICES_DIR"] = str(root / config.env["MLSEAM_SERVICES_DIR"].lstrip("/"))
    image_env["MLSEAM_SERVE_PORT"] = str(free_port())
    # The stack's address and tables come from outside, as ECS's task definition gives them.
    env = {**stack_env(image_settings), **image_env, "MLSEAM_POLL_INTERVAL_S": "0.2"}
    return Container(root, env)


def _first_demo_input(container: Container) -> Any:
    service = load_service(container.env["MLSEAM_SERVICE"], Path(container.env["MLSEAM_SERVICES_DIR"]))
    if service.manifest.seed is None:
        pytest.skip(f"{service.name} has no demo data to train a champion on")
    value, _ = next(iter(service.load_seed()()))
    return value


@pytest.mark.slow
@pytest.mark.parametrize("container", SERVICES, indirect=True)
def test_the_image_command_trains_and_serves_its_service(container: Container) -> None:
    # given: the service's demo data and a champion, made by the image's own commands
    name = container.env["MLSEAM_SERVICE"]
    sample = _first_demo_input(container)
    seeded = container.run("seed")
    assert seeded.returncode == 0, seeded.stderr
    retrained = container.run("retrain")
    assert retrained.returncode == 0, retrained.stdout + retrained.stderr

    # when: the container starts (ENTRYPOINT + CMD, no service named on the command line)
    config = image_config(name)
    base = f"http://127.0.0.1:{container.env['MLSEAM_SERVE_PORT']}/{name}"
    log = container.root.parent / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(image_command(*config.cmd), env=container.env, stdout=sink, stderr=sink)
    try:
        wait_until_answering(process, f"{base}/readyz", log)

        # then: it predicts with the champion it loaded
        answer = httpx.post(f"{base}/v1/predict", json={"inputs": [sample]}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["outputs"]) == 1
        assert answer.json()["model_version"] == "v1"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # and it stops cleanly on SIGTERM, as ECS stops a task, having written nothing to its files
    assert process.returncode == 0, log.read_text(errors="replace")
    assert not list(container.root.rglob("__pycache__")), "the root filesystem is read-only in ECS"


def wait_until_answering(process: subprocess.Popen[bytes], url: str, log: Path, what: str = "the container") -> None:
    """Until ``url`` answers 200; fails with ``what``'s log if it exits or a minute passes first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} never answered 200 at {url}:\n{log.read_text(errors='replace')}")
