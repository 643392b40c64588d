"""The champion a process serves, its readiness, and the watcher that hot-reloads it."""

from __future__ import annotations

import gc
import logging
import time
from enum import StrEnum

from mlseam.artifacts import ArtifactStore
from mlseam.events import NO_EVENTS, EventPublisher, reload_failed
from mlseam.manifest import Service
from mlseam.registry import Registry
from mlseam.runtime.loading import LoadedModel, load_version
from mlseam.runtime.metrics import MODEL_VERSION, RELOADS

log = logging.getLogger("mlseam.runtime")


class SlotState(StrEnum):
    """Where an API is on its way to serving (``/readyz``)."""

    STARTING = "starting"
    NO_MODEL = "no model yet"
    LOAD_FAILED = "load failed"
    READY = "ready"


class ModelSlot:
    """Holds the model being served. Swapping is one reference assignment, so a batch that
    already took the old model finishes on it while new batches take the new one."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None
        self.readiness = SlotState.STARTING
        self.reason = ""


class ChampionWatcher:
    """Polls the champion pointer and swaps in each new champion; failures keep the old one.

    The first failure of a run of them is published as a ``reload.failed`` event (the retries
    with backoff that follow are only counted, so a broken champion is one event, not one a poll).
    """

    def __init__(
        self,
        service: Service,
        slot: ModelSlot,
        *,
        registry: Registry,
        artifacts: ArtifactStore,
        interval_s: float,
        max_backoff_s: float,
        events: EventPublisher = NO_EVENTS,
    ) -> None:
        self.service = service
        self.slot = slot
        self.registry = registry
        self.artifacts = artifacts
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0
        self.events = events
        self.wanted: str | None = None
        """The champion version last read from the pointer (the one a failed reload was loading)."""

    def check(self) -> bool:
        """Load the champion if it changed; True when a new model was swapped in."""
        name = self.service.name
        champion = self.registry.get_champion(name)
        if champion is None:
            if self.slot.current is None:
                self.slot.readiness, self.slot.reason = SlotState.NO_MODEL, f"{name} has no champion yet; retrain it"
            return False
        self.wanted = champion.version
        if self.slot.current is not None and self.slot.current.version == champion.version:
            return False
        started = time.perf_counter()
        loaded = load_version(self.service, champion.version, registry=self.registry, artifacts=self.artifacts)
        record = loaded.record
        previous, self.slot.current = self.slot.current, loaded
        self.slot.readiness, self.slot.reason = SlotState.READY, ""
        if previous is not None:
            MODEL_VERSION.labels(name, previous.version).set(0)
        MODEL_VERSION.labels(name, record.version).set(1)
        gc.freeze()  # the new model is long-lived: keep it out of full collections too
        log.info(
            "loaded champion",
            extra={"service": name, "version": record.version, "seconds": round(time.perf_counter() - started, 3)},
        )
        return True

    def check_and_count(self) -> None:
        """``check`` with the outcome counted and logged; never raises."""
        try:
            changed = self.check()
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
            self.failures += 1
            RELOADS.labels(self.service.name, "failure").inc()
            reason = f"{type(exc).__name__}: {exc}"
            if self.slot.current is None:
                self.slot.readiness, self.slot.reason = SlotState.LOAD_FAILED, reason
            log.warning(
                "champion reload failed; keeping the current model",
                extra={"service": self.service.name, "reason": reason},
            )
            if self.failures == 1:
                self._announce_failure(reason)
            return
        self.failures = 0
        if changed:
            RELOADS.labels(self.service.name, "success").inc()

    def _announce_failure(self, reason: str) -> None:
        serving = self.slot.current.version if self.slot.current is not None else None
        version = self.wanted or "unknown"
        self.events.publish(
            reload_failed(self.service.name, version, serving=serving, failures=self.failures, reason=reason)
        )

    def next_delay(self) -> float:
        """The poll interval, backing off exponentially while reloads keep failing."""
        if self.failures == 0:
            return self.interval_s
        return min(self.interval_s * 2.0 ** min(self.failures, 16), self.max_backoff_s)
