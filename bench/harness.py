"""The plumbing the benchmark scripts share: child processes, signals, a seeded local stack and report lines."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

T = TypeVar("T")


# --- processes -------------------------------------------------------------------------------------------------


class Proc:
    """A process we started: stopped with SIGTERM, then SIGKILL, whatever happens."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd)

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process so far (NaN once it is gone)."""
        import psutil

        try:
            times = psutil.Process(self.pid).cpu_times()
        except psutil.NoSuchProcess:
            return float("nan")
        return float(times.user + times.system)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        return self.process.returncode

    def stop_noting(self) -> None:
        """Stop the process; print its last log lines when it did not exit cleanly on SIGTERM."""
        code = self.stop()
        if code not in (0, -signal.SIGTERM):
            print(f"note: {self.name} exited with {code} on SIGTERM; last log lines:\n{self.tail(10)}")


def poll_readiness(proc: Proc, url: str, started: float | None = None, interval_s: float = 0.05) -> float:
    """Seconds from ``started`` (default: now) to the first 200 from ``url``, polled every ``interval_s``;
    raises if the process dies or never gets there."""
    import httpx

    started = time.perf_counter() if started is None else started
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.tail()}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(interval_s)
    raise RuntimeError(f"{proc.name} not ready after {READY_TIMEOUT_S:.0f} s:\n{proc.tail()}")


def run_child_json(argv: list[str], name: str, timeout_s: float, stderr_chars: int | None = None) -> dict[str, Any]:
    """Run a child to its end and parse the JSON object on its last stdout line; raises if it exits non-zero,
    with its stderr (the last ``stderr_chars`` characters, if given)."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        stderr = done.stderr.strip()
        if stderr_chars is not None:
            stderr = stderr[-stderr_chars:]
        raise RuntimeError(f"{name} exited {done.returncode}:\n{stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# --- the local stack -------------------------------------------------------------------------------------------


def configure_stack(tmp: Path, services_dir: Path, **overrides: Any) -> tuple[Any, Any]:
    """Local settings (PostgreSQL and the AWS emulator on free ports, state in ``tmp``) and their stack, not
    started yet: (settings, stack)."""
    from mlseam.local.ports import free_port
    from mlseam.local.stack import LocalStack
    from mlseam.settings import Settings

    settings = Settings(
        environment="local",
        local_dir=tmp / "stack",
        services_dir=services_dir,
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/mlseam",
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        **overrides,
    )
    return settings, LocalStack(settings)


def seed_champion(settings: Any, service_name: str) -> tuple[Any, Any]:
    """Seed the service's demo data and retrain it once on the started stack: (stores, champion)."""
    from mlseam.manifest import load_service
    from mlseam.stores import build_stores
    from mlseam.training import Retrainer, seed_service

    service = load_service(service_name, settings.services_dir)
    stores = build_stores(settings)
    seed_service(service, stores)
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()
    if outcome.exit_code != 0:
        raise RuntimeError(f"retraining {service_name} failed: {outcome.summary}")
    champion = stores.registry.get_champion(service_name)
    if champion is None:
        raise RuntimeError(f"{service_name} has no champion after retraining")
    return stores, champion


def strip_mlseam_env() -> dict[str, str]:
    """This process's environment without any ``MLSEAM_`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLSEAM_")}


def build_served_env(settings: Any, services_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of an mlseam process: the stack's location, port, log level and ``extra``; defaults
    otherwise."""
    env = strip_mlseam_env()
    env.update(
        MLSEAM_ENVIRONMENT="local",
        MLSEAM_DATABASE_URL=settings.dsn,
        MLSEAM_AWS_ENDPOINT_URL=settings.aws_endpoint_url or "",
        MLSEAM_REGISTRY_TABLE=settings.registry_table,
        MLSEAM_ARTIFACTS_BUCKET=settings.artifacts_bucket,
        MLSEAM_SERVICES_DIR=str(services_dir),
        MLSEAM_SERVE_PORT=str(port),
        MLSEAM_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def stop_everything(procs: list[Proc], stack: Any, tmp: Path) -> None:
    """Stop every process and the stack (when there is one) and remove the temp dir, whatever fails."""
    for proc in procs:
        try:
            proc.stop()
        except Exception as exc:  # noqa: BLE001 - cleanup goes on with the next process
            print(f"cleanup: stopping {proc.name} (pid {proc.pid}): {exc}")
    if stack is not None:
        try:
            stack.stop()
        except Exception as exc:  # noqa: BLE001 - the temp dir still goes
            print(f"cleanup: stopping the local stack: {exc}")
    shutil.rmtree(tmp, ignore_errors=True)


# --- signals and the run ---------------------------------------------------------------------------------------


@contextmanager
def trap_sigterm() -> Iterator[None]:
    """SIGTERM stops the benchmark like Ctrl-C, so the cleanup in ``finally`` runs."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def ignore_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored meanwhile (cleanup runs to its end), then handled as before."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_guarded(work: Callable[[], T], clean_up: Callable[[], None]) -> tuple[T | None, int]:
    """``work()`` with SIGTERM handled as Ctrl-C, then ``clean_up()`` whatever happens: (its result, 0), or
    (None, 130) when interrupted, (None, 1) when it raised (reported in one line)."""
    try:
        with trap_sigterm():
            return work(), 0
    except KeyboardInterrupt:
        print("interrupted; cleaning up")
        return None, 130
    except Exception as exc:  # noqa: BLE001 - reported as one message, then cleanup
        print(f"benchmark setup or run failed: {type(exc).__name__}: {exc}")
        return None, 1
    finally:
        clean_up()


# --- report ----------------------------------------------------------------------------------------------------


def format_load() -> str:
    """The 1, 5 and 15 minute load averages, ``a/b/c``."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def describe_machine(placement: str = "") -> str:
    """One line: CPUs and their model, OS, Python, ``placement`` (where what runs) and the load average."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"machine: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({sys.executable}); "
        + (f"{placement}; " if placement else "")
        + f"load average before the run {format_load()}"
    )


def describe_totals(started: float) -> str:
    """The closing line: the load average now and the seconds since ``started`` (``time.perf_counter``)."""
    return f"load average after the run {format_load()}; total: {time.perf_counter() - started:.1f} s"
