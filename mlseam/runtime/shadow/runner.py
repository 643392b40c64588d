"""The challenger in shadow: one child process per API, fed a sampled share of answered requests.

The API only appends to a bounded queue after its answer went (full: dropped and counted, never
waited for). One supervisor thread per child hands it what waits (up to 128 requests or 4 MiB, gathered
for up to 200 ms) as one call at a time, so it knows what is in flight and since when: a call past
``shadow.timeout``, or a child that dies, is settled as such, the child killed and started again.
Every outcome is logged beside the champion's row of the same request (``shadow_of``) and counted.
No challenger: no process, no thread, no queue.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from mlseam.manifest import Service
from mlseam.predictionlog import PredictionBatch, new_prediction_ids
from mlseam.registry import Registry
from mlseam.runtime.recorder import PredictionRecorder
from mlseam.runtime.shadow.challenger import select_challenger
from mlseam.runtime.shadow.metrics import SHADOW_CALLS, SHADOW_LOADED, SHADOW_RESTARTS, SHADOW_SECONDS
from mlseam.runtime.shadow.process import ChallengerProcess, ShadowJob
from mlseam.settings import Settings

log = logging.getLogger("mlseam.shadow")

RETRY_FAILED_LOAD_S = 60.0
"""How long a version that failed to load is left alone before the polling tries it again."""


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
        self._last_error_log = -math.inf  # monotonic time starts near 0 on a fresh boot

    @property
    def version(self) -> str | None:
        """The challenger in shadow, or None."""
        child = self.child
        return child.version if child is not None else None

    @property
    def loaded_version(self) -> str | None:
        """The challenger once its process has loaded it (and takes requests), else None."""
        child = self.child
        return child.version if child is not None and child.loaded else None

    def sampled(self) -> bool:
        """Whether the challenger also answers this request (decided per request, at ``shadow.share``)."""
        return self.child is not None and random.random() < self.options.share  # noqa: S311 - sampling

    def offer(self, body: bytes, *, request_id: str | None, shadow_of: str, count: int) -> None:
        """Queue a request the champion answered; dropped (counted, logged) when the queue is full."""
        child = self.child
        if child is not None:
            child.offer(ShadowJob(next(self._numbers), body, request_id, shadow_of, count))

    def check(self, champion: str | None) -> None:
        """Start, switch or stop the challenger's process to match the registry (from the polling thread).

        ``champion`` is the version the API serves, which its watcher has just read.
        """
        versions = self.registry.list_versions(self.service.name)
        chosen = select_challenger(versions, champion, self.options, datetime.now(UTC))
        wanted = chosen.version if chosen is not None else None
        if wanted == self.version:
            return
        failed = self._failed
        if wanted is not None and failed and failed[0] == wanted and time.monotonic() - failed[1] < RETRY_FAILED_LOAD_S:
            return
        self.replace(wanted, reason="challenger")

    def check_and_count(self, champion: str | None) -> None:
        """``check``, logging instead of raising: a registry outage leaves the challenger as it is."""
        try:
            self.check(champion)
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
