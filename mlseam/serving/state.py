"""The model an API serves, its readiness, and the watcher that hot-reloads the champion."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlseam.artifacts import ArtifactStore, load_model
from mlseam.contract import Model
from mlseam.errors import ContractError, InvalidInputError
from mlseam.manifest import Service
from mlseam.registry import ModelVersion, Registry
from mlseam.serving.metrics import MODEL_VERSION, RELOADS
from mlseam.serving.outputs import UnusableOutput, predict_outputs

log = logging.getLogger("mlseam.serving")


class Readiness(StrEnum):
    """Where an API is on its way to serving (``/readyz``)."""

    STARTING = "starting"
    NO_MODEL = "no model yet"
    LOAD_FAILED = "load failed"
    READY = "ready"


@dataclass(frozen=True)
class LoadedModel:
    """A champion loaded, checked and warmed up; replaced whole, never mutated."""

    version: str
    model: Model
    record: ModelVersion


class ModelSlot:
    """Holds the model being served. Swapping is one reference assignment, so a batch that
    already took the old model finishes on it while new batches take the new one."""

    def __init__(self) -> None:
        self.current: LoadedModel | None = None
        self.readiness = Readiness.STARTING
        self.reason = ""


def warm_up(service: Service, model: Model) -> None:
    """One prediction on a neutral input; a model that cannot predict is refused."""
    (output,) = predict_outputs(service, model, [service.task.sample_input()])
    if isinstance(output, UnusableOutput):
        raise InvalidInputError(f"the model gave no finite prediction ({output.value}) for a neutral input")


def load_version(service: Service, version: str, *, registry: Registry, artifacts: ArtifactStore) -> LoadedModel:
    """One version of ``service``'s model: downloaded, sha256-checked, type-checked, warmed up."""
    name = service.name
    record = registry.get_version(name, version)
    if not (record.artifact_key and record.artifact_sha256):
        raise ContractError(f"{name} {record.version} has no artifact")
    data = artifacts.get(record.artifact_key, record.artifact_sha256)
    model = load_model(data, where=f"{name} {record.version}")
    if not isinstance(model, service.model_class):
        raise ContractError(
            f"{name} {record.version} holds a {type(model).__name__}, not {service.model_class.__name__}"
        )
    warm_up(service, model)
    return LoadedModel(record.version, model, record)


class ChampionWatcher:
    """Polls the champion pointer and swaps in each new champion; failures keep the old one."""

    def __init__(
        self,
        service: Service,
        slot: ModelSlot,
        *,
        registry: Registry,
        artifacts: ArtifactStore,
        interval_s: float,
        max_backoff_s: float,
    ) -> None:
        self.service = service
        self.slot = slot
        self.registry = registry
        self.artifacts = artifacts
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0

    def check(self) -> bool:
        """Load the champion if it changed; True when a new model was swapped in."""
        name = self.service.name
        champion = self.registry.get_champion(name)
        if champion is None:
            if self.slot.current is None:
                self.slot.readiness, self.slot.reason = Readiness.NO_MODEL, f"{name} has no champion yet; retrain it"
            return False
        if self.slot.current is not None and self.slot.current.version == champion.version:
            return False
        started = time.perf_counter()
        loaded = load_version(self.service, champion.version, registry=self.registry, artifacts=self.artifacts)
        record = loaded.record
        previous, self.slot.current = self.slot.current, loaded
        self.slot.readiness, self.slot.reason = Readiness.READY, ""
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
                self.slot.readiness, self.slot.reason = Readiness.LOAD_FAILED, reason
            log.warning(
                "champion reload failed; keeping the current model",
                extra={"service": self.service.name, "reason": reason},
            )
            return
        self.failures = 0
        if changed:
            RELOADS.labels(self.service.name, "success").inc()

    def next_delay(self) -> float:
        """The poll interval, backing off exponentially while reloads keep failing."""
        if self.failures == 0:
            return self.interval_s
        return min(self.interval_s * 2.0 ** min(self.failures, 16), self.max_backoff_s)

    async def run(self) -> None:
        """Poll until cancelled; blocking store calls run in a worker thread."""
        while True:
            await asyncio.to_thread(self.check_and_count)
            await asyncio.sleep(self.next_delay())


def model_summary(loaded: LoadedModel) -> dict[str, Any]:
    """What ``GET /v1/model`` says about the model being served."""
    record = loaded.record
    return {
        "version": record.version,
        "primary_metric": record.primary_metric,
        "metrics": record.metrics,
        "champion_metrics_at_promotion": record.champion_metrics,
        "trained_at": record.finished_at,
        "data_watermark": record.watermark,
        "train_count": record.train_count,
        "holdout_count": record.holdout_count,
        "code_version": record.code_version,
        "library_versions": record.library_versions,
        "artifact_sha256": record.artifact_sha256,
    }
