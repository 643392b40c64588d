"""The dashboard's image (docker/Dockerfile's ``dashboard`` target), checked without a Docker engine.

The target's files are laid out as the image has them (every service folder, no ``.git``) and its
command runs here, with its environment and no git on the PATH, against the local stack.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from infra.test_docker import DOCKERFILE, REPO, SERVICES, Stage, parse_dockerfile, stage_config, wait_until_answering

from builders import stack_env
from dashboard_history import write_history
from mlseam.aws import aws_client
from mlseam.local.ports import free_port
from mlseam.registry import DynamoRegistry, create_registry_table
from mlseam.settings import Settings

PREFIX = "/dashboard"


def dashboard_stage() -> Stage:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    return next(stage for stage in stages if stage.name == "dashboard")


def stage_env(stage: Stage) -> dict[str, str]:
    return stage_config(stage, {}).env


def test_the_dashboard_target_holds_every_service_and_runs_the_dashboard_unprivileged() -> None:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    stage = dashboard_stage()
    copies = [args for args in stage.args("COPY") if not args.startswith("--from")]

    assert copies == ["services/ /app/services/"], "every service folder, whatever their names"
    assert "SERVICE" not in " ".join(stage.args("ARG")), "building it needs no service"
    assert stages[-1].name != "dashboard", "the service image stays the default target"
    assert any(args.startswith("--from=builder") for args in stage.args("COPY")), "the services' virtualenv"
    assert stage.args("USER") == ["10001:10001"]
    assert json.loads(stage.args("ENTRYPOINT")[-1]) == ["mlseam"] and json.loads(stage.args("CMD")[-1]) == ["dashboard"]
    assert stage_env(stage)["MLSEAM_SERVICES_DIR"] == "/app/services"


@pytest.fixture
def image_settings(stack_settings: Settings, local_stack: object) -> Settings:
    """The shared test stack, with a registry table of this module's own."""
    settings = stack_settings.model_copy(update={"registry_table": "mlseam-registry-dashboard-image"})
    create_registry_table(aws_client(settings, "dynamodb"), settings.registry_table)
    return settings


def test_without_git_the_image_shows_the_code_version_each_last_retrain_recorded(
    image_settings: Settings, tmp_path: Path
) -> None:
    # given: the image's files (no .git above them), a registry where one service was retrained twice
    stage = dashboard_stage()
    root = tmp_path / "image"
    shutil.copytree(REPO / "services", root / "app" / "services", ignore=shutil.ignore_patterns("__pycache__"))
    assert not any((parent / ".git").exists() for parent in root.parents)
    registry = DynamoRegistry(aws_client(image_settings, "dynamodb"), image_settings.registry_table)
    service = SERVICES[0]
    last = write_history(registry, service, 2)[-1]
    env = {**stack_env(image_settings), **stage_env(stage)}
    # no git on the PATH, as in the image: only the virtualenv's programs
    env.update(
        PATH=str(Path(sys.executable).parent),
        MLSEAM_SERVICES_DIR=str(root / "app" / "services"),
        MLSEAM_SERVE_PORT=str(free_port()),
        MLSEAM_DASHBOARD_PREFIX=PREFIX,
    )
    command = [str(Path(sys.executable).parent / "mlseam"), *json.loads(stage.args("CMD")[-1])]

    # when: the container starts
    log = tmp_path / "dashboard.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=root)
    try:
        base = f"http://127.0.0.1:{env['MLSEAM_SERVE_PORT']}{PREFIX}"
        wait_until_answering(process, f"{base}/healthz", log, "the dashboard")
        page = httpx.get(f"{base}/", timeout=30)
        healthcheck = json.loads(stage.args("HEALTHCHECK")[-1].split("CMD", 1)[1])
        checked = subprocess.run(healthcheck, env=env, capture_output=True, text=True, check=False)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    # then: every service has its row, and the code left behind is what the last retrain recorded
    assert page.status_code == 200, log.read_text(errors="replace")
    for name in SERVICES:
        assert f'data-service="{name}"' in page.text
    row = page.text.split(f'data-service="{service}"', 1)[1].split("</tr>", 1)[0]
    assert f"(last retrain, code {last.code_version})" in row, row
    assert last.started_at[:10] in row.split('class="code"', 1)[1]
    assert checked.returncode == 0, checked.stderr
