"""One service as its API serves it: its model slot, champion watcher, predict coalescer and stores."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mlseam.errors import NoModelError
from mlseam.examples import ExamplesStore
from mlseam.manifest import Service
from mlseam.runtime import (
    ChampionWatcher,
    LoadedModel,
    ModelSlot,
    PinnedVersions,
    PredictCoalescer,
    PredictionRecorder,
    new_prediction_ids,
    predict_outputs,
)
from mlseam.runtime.shadow import ShadowRunner
from mlseam.serving.schemas import ServiceSchemas, build_schemas
from mlseam.settings import Settings
from mlseam.stores import Stores


class ServedService:
    """One service being served: started and stopped by the app's lifespan."""

    def __init__(
        self, service: Service, stores: Stores, settings: Settings, recorder: PredictionRecorder | None = None
    ) -> None:
        self.service = service
        self.recorder = recorder
        """Where answered predictions are logged (shared by the process's services); None: not logged."""
        self.settings = settings
        self.examples: ExamplesStore = stores.examples
        self.registry = stores.registry
        self.batches = stores.batches
        self.predictions = stores.predictions
        self.slot = ModelSlot()
        self.schemas: ServiceSchemas = build_schemas(service, settings.max_items)
        self.watcher = ChampionWatcher(
            service,
            self.slot,
            registry=stores.registry,
            artifacts=stores.artifacts,
            interval_s=settings.poll_interval_s,
            max_backoff_s=settings.reload_max_backoff_s,
            events=stores.events,
        )
        self.coalescer = PredictCoalescer(
            self.predict,
            service=service.name,
            max_rows=settings.coalesce_max_rows,
            max_wait_s=settings.coalesce_max_wait_ms / 1000.0,
            enabled=settings.coalesce,
            inline_budget_s=settings.inline_predict_ms / 1000.0,
            gather_s=settings.coalesce_gather_ms / 1000.0,
        )
        self.pinned = PinnedVersions(
            service, registry=stores.registry, artifacts=stores.artifacts, size=settings.pinned_cache_size
        )
        """Former champions asked for by ``X-Model-Version``."""
        self.shadow: ShadowRunner | None = None
        if recorder is not None and service.manifest.may_shadow(settings.environment):
            self.shadow = ShadowRunner(service, settings, registry=stores.registry, recorder=recorder)
        """The challenger in shadow: none while the prediction log (where its answers go) is off, nor for a
        service that can never hold one here (``Manifest.may_shadow``), whose API then never lists its versions."""
        self._watch: asyncio.Task[None] | None = None

    def loaded(self) -> LoadedModel:
        """The model being served, or NoModelError saying why there is none."""
        loaded = self.slot.current
        if loaded is None:
            raise NoModelError(f"{self.service.name} has no model loaded: {self.slot.reason or self.slot.readiness}")
        return loaded

    def predict(self, inputs: list[Any]) -> tuple[list[Any], str]:
        """Run the current model on validated inputs (one batch, one model version).

        Each output comes paired with its prediction id, ``(prediction_id, output)``, the output
        carrying it too: a request's slice of the batch then knows its ids without reading them back.
        """
        loaded = self.loaded()
        ids = new_prediction_ids(len(inputs))
        outputs = predict_outputs(self.service, loaded.model, inputs, ids)
        return list(zip(ids, outputs, strict=True)), loaded.version

    async def start(self) -> None:
        """Load the champion once (so a ready API serves at once), then keep watching."""
        await self._check()
        self.coalescer.start()
        self._watch = asyncio.get_running_loop().create_task(self._watch_forever(), name=f"watch-{self.service.name}")

    async def _check(self) -> None:
        """One poll of the registry: the champion, then the challenger; blocking calls in a worker thread."""
        await asyncio.to_thread(self.watcher.check_and_count)
        if self.shadow is not None:
            served = self.slot.current
            await asyncio.to_thread(self.shadow.check_and_count, served.version if served is not None else None)

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self.watcher.next_delay())
            await self._check()

    async def stop(self) -> None:
        """Stop watching and batching (requests in flight have been drained by then)."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.coalescer.stop()
        if self.shadow is not None:
            await asyncio.to_thread(self.shadow.stop)
