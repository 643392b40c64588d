"""`mlseam local-stack` (what `make run` runs) as a user sees it: up, reachable, Ctrl-C, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from builders import clone_service
from mlseam.local.ports import free_port

pytestmark = pytest.mark.integration  # starts real servers


def _start(env: dict[str, str], *services: str) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mlseam.cli", "local-stack", *services],
        # As a shell's background job: SIGINT ignored on entry, the stack must still honour it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "local stack is up" in line:
            return process, lines
    process.kill()
    pytest.fail("the local stack never came up:\n" + "".join(lines))


def _stop(process: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT) -> str:
    process.send_signal(sig)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
    return rest


def test_the_local_stack_comes_up_serves_the_cli_and_stops_cleanly(tmp_path: Path) -> None:
    # given: a services folder with one service, ports nobody uses
    port = free_port()
    services = tmp_path / "services"
    services.mkdir()
    clone_service(services, "diabetes", "diabetes")
    env = {
        **os.environ,
        "MLSEAM_LOCAL_DIR": str(tmp_path / "local"),
        "MLSEAM_SERVICES_DIR": str(services),
        "MLSEAM_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/mlseam",
        "MLSEAM_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "MLSEAM_SERVE_PORT": str(port),
    }

    # when: it starts
    process, lines = _start(env)
    output = "".join(lines)

    # then: seeded, retrained, status printed; a second terminal's CLI reaches it
    assert "diabetes: 442 demo examples, 442 new" in output
    assert "diabetes v1 promoted: first model" in output
    status = subprocess.run([sys.executable, "-m", "mlseam.cli", "status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "diabetes" in status.stdout and "v1" in status.stdout
    # and the API answers on one port under the load balancer's paths, as the printed curl says
    curl = next(line for line in lines if line.startswith("curl "))
    assert f"http://127.0.0.1:{port}/diabetes/v1/predict" in curl
    body = curl.split("-d '", 1)[1].rstrip("'\n")
    answer = httpx.post(f"http://127.0.0.1:{port}/diabetes/v1/predict", content=body)
    assert answer.status_code == 200 and answer.json()["model_version"] == "v1"
    # and a batch is processed by the worker it runs for the service
    accepted = httpx.post(f"http://127.0.0.1:{port}/diabetes/v1/batches", content=body)
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 60
    while (batch := httpx.get(f"http://127.0.0.1:{port}{accepted.json()['status_url']}").json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)
    assert (
        batch["status"] == "succeeded"
        and batch["outputs"][0]["output"]["value"] == answer.json()["outputs"][0]["value"]
    )
    postmaster = int((tmp_path / "local" / "postgres" / "postmaster.pid").read_text().split()[0])

    # when: Ctrl-C
    assert "stopping the local stack" in _stop(process)

    # then: nothing it started is left running
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE

    # and a second start, of that service alone (`make run SERVICES=diabetes`), reuses the examples kept
    clone_service(services, "diabetes", "other")
    again, lines = _start(env, "diabetes")
    try:
        output = "".join(lines)
        assert "diabetes: 442 demo examples, 0 new" in output
        assert "diabetes v1 promoted" in output  # the emulated AWS state started empty
        assert "other: " not in output and "/other/v1/predict" not in output  # neither seeded nor served
    finally:
        assert "stopping the local stack" in _stop(again, signal.SIGTERM)  # as ECS or `kill` stops it
