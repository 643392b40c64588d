"""The challenger in shadow: one child process per API, fed a sampled share of answered requests.

The API only appends to a bounded queue after its answer went (full: dropped and counted, never
waited for). One supervisor thread per child hands it one request at a time, so it knows which one
is in flight and since when: a call past ``shadow.timeout``, or a child that dies, is settled as
such, the child killed and started again. Every outcome is logged beside the champion's row of
the same request (``shadow_of``) and counted. No challenger: no process, no thread, no queue.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from mlseam.manifest import Service
from mlseam.predictionlog import PredictionBatch, new_prediction_ids
from mlseam.registry import Registry
from mlseam.runtime.recorder import PredictionRecorder
from mlseam.runtime.shadow.challenger import select_challenger
from mlseam.runtime.shadow.frames import read_frame, write_frame
from mlseam.runtime.shadow.metrics import SHADOW_CALLS, SHADOW_LOADED, SHADOW_RESTARTS, SHADOW_SECONDS
from mlseam.settings import Settings

log = logging.getLogger("mlseam.shadow")

LOAD_TIMEOUT_S = 120.0
"""Longest a challenger's process may take to load its version before it counts as failed."""
RETRY_FAILED_LOAD_S = 60.0
"""How long a version that failed to load is left alone before the polling tries it again."""
_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class ShadowJob:
    """One answered request handed to the challenger: its body and the champion's row it is compared with."""

    number: int
    body: bytes
    request_id: str | None
    shadow_of: str
    """The champion's first prediction id for this request."""
    count: int


class ShadowRunner:
    """The challenger of one service: chosen from the registry, run in its own process, its answers logged."""

    def __init__(
        self, service: Service, settings: Settings, *, registry: Registry, recorder: PredictionRecorder
    ) -> None:
        self.service = service
        self.settings = settings
        self.registry = registry
        self.recorder = recorder
        self.options = service.manifest.shadow
        self.child: ChallengerProcess | None = None
        """The challenger's process; None while there is no challenger."""
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._failed: tuple[str, float] | None = None
        self._last_error_log = 0.0

    @property
    def version(self) -> str | None:
        """The challenger in shadow, or None."""
        child = self.child
        return child.version if child is not None else None

    def sampled(self) -> bool:
        """Whether the challenger also answers this request (decided per request, at ``shadow.share``)."""
        return self.child is not None and random.random() < self.options.share  # noqa: S311 - sampling

    def offer(self, body: bytes, *, request_id: str | None, shadow_of: str, count: int) -> None:
        """Queue a request the champion answered; dropped (counted, logged) when the queue is full."""
        child = self.child
        if child is not None:
            child.offer(ShadowJob(next(self._numbers), body, request_id, shadow_of, count))

    def check(self) -> None:
        """Start, switch or stop the challenger's process to match the registry (from the polling thread)."""
        name = self.service.name
        champion = self.registry.get_champion(name)
        versions = self.registry.list_versions(name)
        chosen = select_challenger(versions, champion.version if champion else None, self.options, datetime.now(UTC))
        wanted = chosen.version if chosen is not None else None
        if wanted == self.version:
            return
        failed = self._failed
        if wanted is not None and failed and failed[0] == wanted and time.monotonic() - failed[1] < RETRY_FAILED_LOAD_S:
            return
        self.replace(wanted, reason="challenger")

    def check_and_count(self) -> None:
        """``check``, logging instead of raising: a registry outage leaves the challenger as it is."""
        try:
            self.check()
        except Exception:
            log.warning("could not check the challenger", extra={"service": self.service.name}, exc_info=True)

    def replace(self, version: str | None, *, reason: str, previous: ChallengerProcess | None = None) -> None:
        """Run ``version`` in a new process (None: none), stopping the one before.

        With ``previous``, only if that process is still the current one (a restart after a timeout
        must not undo a switch the polling made meanwhile).
        """
        with self._lock:
            old = self.child
            if previous is not None and old is not previous:
                return
            self.child = ChallengerProcess(self, version) if version is not None else None
            if version is not None:
                SHADOW_RESTARTS.labels(self.service.name, reason).inc()
        if old is not None:
            old.stop()
            if old.version != version:
                SHADOW_LOADED.labels(self.service.name, old.version).set(0)

    def failed_to_load(self, child: ChallengerProcess, reason: str) -> None:
        """A challenger that cannot load: no process until the polling tries it again later."""
        log.warning(
            "challenger could not be loaded; shadowing nothing for now",
            extra={"service": self.service.name, "version": child.version, "reason": reason},
        )
        self._failed = (child.version, time.monotonic())
        self.replace(None, reason="failed", previous=child)

    def stop(self) -> None:
        """Stop the challenger's process (API shutdown)."""
        self.replace(None, reason="stop")

    def settle(self, job: ShadowJob, version: str, outcome: str, latency_ms: float | None, result: Any) -> None:
        """Count one job's outcome and log it beside the champion's row; ``result`` is the answer or the error."""
        name = self.service.name
        SHADOW_CALLS.labels(name, version, outcome).inc()
        if outcome == "ok":
            if latency_ms is not None:
                SHADOW_SECONDS.labels(name).observe(latency_ms / 1000.0)
            first_id, answer = result
        else:
            self._log_failure(version, outcome, str(result))
            first_id = None
            answer = orjson.dumps({"outputs": [], "model_version": version, "error": str(result)})
        self.recorder.record(
            PredictionBatch(
                service=name,
                version=version,
                request_id=job.request_id,
                logged_at=datetime.now(UTC),
                first_id=first_id or new_prediction_ids(1)[0],
                count=job.count,
                request=job.body,
                answer=answer,
                latency_ms=latency_ms,
                shadow_of=job.shadow_of,
                outcome=None if outcome == "ok" else outcome,
            )
        )

    def _log_failure(self, version: str, outcome: str, reason: str) -> None:
        # A challenger failing on every request would otherwise log each; the counters keep the count.
        now = time.monotonic()
        if outcome == "dropped" or now - self._last_error_log < 10.0:
            return
        self._last_error_log = now
        log.warning(
            "challenger call failed in shadow",
            extra={"service": self.service.name, "version": version, "outcome": outcome, "reason": reason},
        )


class ChallengerProcess:
    """One child process running a challenger version, its job queue and the thread supervising it."""

    def __init__(self, runner: ShadowRunner, version: str) -> None:
        self.runner = runner
        self.version = version
        self.jobs: queue.Queue[ShadowJob] = queue.Queue(maxsize=runner.options.queue)
        self._stopping = threading.Event()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "mlseam.runtime.shadow.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
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
        log.info(
            "challenger loaded in shadow",
            extra={"service": runner.service.name, "version": self.version, "seconds": round(message[1], 3)},
        )
        return True

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.jobs.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if not self._run(job):
                return

    def _run(self, job: ShadowJob) -> bool:
        """Hand ``job`` over and settle it; False once the process had to go (timed out or died)."""
        runner, timeout = self.runner, self.runner.options.timeout
        started = time.monotonic()
        try:
            write_frame(self._stdin, (job.number, job.body))
            message = self._receive(timeout)
        except (OSError, EOFError):
            if self._stopping.is_set():
                return False
            runner.settle(job, self.version, "error", None, f"the challenger's process died ({self.popen.poll()})")
            self._restart("died")
            return False
        if message is None:
            waited = (time.monotonic() - started) * 1000.0
            runner.settle(job, self.version, "timeout", waited, f"no answer within {timeout:g} s")
            self._restart("timeout")
            return False
        _, _, outcome, latency_ms, first_id, answer = message
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
