"""Starts `mlseam serve` as a real process for the API tests, and stops it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from builders import stack_env
from mlseam.local.ports import free_port
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer, seed_service


@dataclass
class ApiProcess:
    """A running API: its process, base URL and log file."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def start_api(settings: Settings, names: list[str], log_dir: Path, *, ready: bool = True, **env: str) -> ApiProcess:
    """Serve ``names`` on a free port; returns once every service answers /healthz (and /readyz)."""
    port = free_port()
    log = log_dir / f"api-{port}.log"
    environment = stack_env(
        settings, MLSEAM_SERVE_PORT=str(port), MLSEAM_POLL_INTERVAL_S="0.2", **{"MLSEAM_LOG_LEVEL": "INFO", **env}
    )
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlseam.cli", "serve", *names], env=environment, stdout=sink, stderr=sink
        )
    api = ApiProcess(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    probe = "/readyz" if ready else "/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{api.logs()}")
        try:
            if all(httpx.get(api.url(f"/{name}{probe}"), timeout=1).status_code == 200 for name in names):
                return api
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    api.stop(signal.SIGKILL)
    raise RuntimeError(f"the API never became ready:\n{api.logs()}")


@dataclass
class Served:
    """Trained services and the API process serving them."""

    settings: Settings
    stores: Stores
    api: ApiProcess
    digits: str
    diabetes: str
    exploding: str
    amounts: str


def train(settings: Settings, stores: Stores, name: str) -> None:
    """Seed (when the service has demo data) and retrain ``name`` once."""
    service = load_service(name, settings.services_dir)
    if service.manifest.seed:
        seed_service(service, stores)
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()
    assert outcome.exit_code == 0, outcome.summary
