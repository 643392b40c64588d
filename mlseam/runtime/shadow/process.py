"""One challenger's child process, its bounded job queue, and the thread handing it one call at a time."""

from __future__ import annotations

import logging
import queue
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any, Protocol

from mlseam.manifest import Service
from mlseam.manifest.shadow import ShadowOptions
from mlseam.runtime.shadow.frames import read_frame, write_frame
from mlseam.runtime.shadow.metrics import SHADOW_LOADED
from mlseam.settings import Settings

log = logging.getLogger("mlseam.shadow")

LOAD_TIMEOUT_S = 120.0
"""Longest a challenger's process may take to load its version before it counts as failed."""
_POLL_S = 0.1
MAX_JOBS_PER_CALL = 128
"""Most waiting requests handed to the challenger in one frame and one predict call."""
MAX_BYTES_PER_CALL = 4 * 1024 * 1024
"""Most request bytes in one call: a call of large bodies goes sooner, and memory stays bounded."""
GATHER_S = 0.2
"""How long the first waiting request waits for others to share its call: the challenger answers after the
client got its answer, so waiting costs nobody, and a predict of many rows costs far less per row than of one
(and a process woken five times a second disturbs the champion's, on the same CPU, less than one woken often)."""


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """One answered request handed to the challenger: its body and the champion's row it is compared with."""

    number: int
    body: bytes
    request_id: str | None
    shadow_of: str
    """The champion's first prediction id for this request."""
    count: int


def gather(waiting: queue.Queue[ShadowJob], jobs: list[ShadowJob], *, stopping: threading.Event) -> None:
    """Add to ``jobs`` what queues within ``GATHER_S`` (or queued while the last call ran), up to
    ``MAX_JOBS_PER_CALL`` requests or ``MAX_BYTES_PER_CALL`` bytes: they go in one call, one round trip
    and one predict."""
    until = time.monotonic() + GATHER_S
    size = sum(len(job.body) for job in jobs)
    while len(jobs) < MAX_JOBS_PER_CALL and size < MAX_BYTES_PER_CALL and not stopping.is_set():
        try:
            job = waiting.get(timeout=max(0.0, until - time.monotonic()))
        except queue.Empty:
            return
        jobs.append(job)
        size += len(job.body)


class Supervisor(Protocol):
    """What a challenger's process reports to: the runner that started it (``ShadowRunner``)."""

    service: Service
    settings: Settings
    options: ShadowOptions

    def settle(self, job: ShadowJob, version: str, outcome: str, latency_ms: float | None, result: Any) -> None: ...

    def replace(self, version: str | None, *, reason: str, previous: ChallengerProcess | None = None) -> None: ...

    def failed_to_load(self, child: ChallengerProcess, reason: str) -> None: ...


class ChallengerProcess:
    """One child process running a challenger version, its job queue and the thread supervising it."""

    def __init__(self, runner: Supervisor, version: str) -> None:
        self.runner = runner
        self.version = version
        self.loaded = False
        """Whether the process has loaded its version and takes requests."""
        self.jobs: queue.Queue[ShadowJob] = queue.Queue(maxsize=runner.options.queue)
        self._stopping = threading.Event()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "mlseam.runtime.shadow.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            # Its own session: a Ctrl-C meant for the API must not kill it first (and look like a crash);
            # it ends when the API closes its stdin, or dies.
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._supervise, name=f"shadow-{version}", daemon=True)
        self._thread.start()

    @property
    def _stdin(self) -> IO[bytes]:
        assert self.popen.stdin is not None  # noqa: S101 - opened with PIPE
        return self.popen.stdin

    @property
    def _stdout(self) -> IO[bytes]:
        assert self.popen.stdout is not None  # noqa: S101 - opened with PIPE
        return self.popen.stdout

    def offer(self, job: ShadowJob) -> None:
        try:
            self.jobs.put_nowait(job)
        except queue.Full:
            self.runner.settle(job, self.version, "dropped", None, "the challenger's queue was full")

    def stop(self) -> None:
        """Kill the process at once (whatever it was doing is of no use to anyone) and end its thread."""
        self._stopping.set()
        self._kill()
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)

    def _kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def _supervise(self) -> None:
        try:
            if self._load():
                self._serve()
        except Exception:
            log.exception("challenger supervisor failed", extra={"service": self.runner.service.name})
        finally:
            self._kill()
            self._drop_waiting()

    def _load(self) -> bool:
        runner = self.runner
        try:
            write_frame(self._stdin, (runner.settings, runner.service.name, self.version))
            message = self._receive(LOAD_TIMEOUT_S)
        except (OSError, EOFError) as exc:
            message = ("failed", f"the process exited while loading ({type(exc).__name__})")
        if self._stopping.is_set():
            return False
        if message is None or message[0] != "ready":
            runner.failed_to_load(self, message[1] if message else f"not loaded within {LOAD_TIMEOUT_S:.0f} s")
            return False
        SHADOW_LOADED.labels(runner.service.name, self.version).set(1)
        self.loaded = True
        log.info(
            "challenger loaded in shadow",
            extra={"service": runner.service.name, "version": self.version, "seconds": round(message[1], 3)},
        )
        return True

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                jobs = [self.jobs.get(timeout=_POLL_S)]
            except queue.Empty:
                continue
            gather(self.jobs, jobs, stopping=self._stopping)
            if not self._run(jobs):
                return

    def _run(self, jobs: list[ShadowJob]) -> bool:
        """Hand ``jobs`` over in one frame and settle each; False once the process had to go (timed out or died)."""
        runner, timeout = self.runner, self.runner.options.timeout
        started = time.monotonic()
        try:
            write_frame(self._stdin, [(job.number, job.body) for job in jobs])
            message = self._receive(timeout)
        except (OSError, EOFError):
            if self._stopping.is_set():
                return False
            for job in jobs:
                runner.settle(job, self.version, "error", None, f"the challenger's process died ({self.popen.poll()})")
            self._restart("died")
            return False
        if message is None:
            waited = (time.monotonic() - started) * 1000.0
            for job in jobs:
                runner.settle(job, self.version, "timeout", waited, f"no answer within {timeout:g} s")
            self._restart("timeout")
            return False
        for job, (outcome, latency_ms, first_id, answer) in zip(jobs, message[1], strict=True):
            runner.settle(job, self.version, outcome, latency_ms, (first_id, answer) if outcome == "ok" else answer)
        return True

    def _receive(self, timeout_s: float) -> Any:
        """The next frame from the child, or None when none came within ``timeout_s`` (or on stop)."""
        deadline = time.monotonic() + timeout_s
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            readable, _, _ = select.select([self._stdout], [], [], min(left, 0.5))
            if readable:
                return read_frame(self._stdout)
        return None

    def _restart(self, reason: str) -> None:
        log.warning(
            "challenger process restarted",
            extra={"service": self.runner.service.name, "version": self.version, "reason": reason},
        )
        self._kill()
        self.runner.replace(self.version, reason=reason, previous=self)

    def _drop_waiting(self) -> None:
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            self.runner.settle(job, self.version, "dropped", None, "the challenger's process was stopped")
