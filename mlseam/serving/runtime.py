"""Everything one service's API needs at run time: its model slot, watcher, batcher and stores."""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import numpy as np

from mlseam.examples import ExamplesStore
from mlseam.manifest import Service
from mlseam.serving.batcher import MicroBatcher
from mlseam.serving.schemas import ServiceSchemas, build_schemas
from mlseam.serving.state import ChampionWatcher, ModelSlot
from mlseam.settings import Settings
from mlseam.stores import Stores


class NoModelError(Exception):
    """Raised inside a batch when no model is loaded yet."""


class UnusableOutput:
    """Stands in a batch's outputs for a prediction that is not a finite number.

    Such an output comes from an input the model cannot handle (values far outside what it
    was trained on): only the request holding that input is refused, with 422.
    """

    def __init__(self, value: object) -> None:
        self.value = value


def _non_finite(value: object) -> bool:
    return isinstance(value, float | np.floating) and not math.isfinite(value)


class ServiceRuntime:
    """One service being served: started and stopped by the app's lifespan."""

    def __init__(self, service: Service, stores: Stores, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.examples: ExamplesStore = stores.examples
        self.slot = ModelSlot()
        self.schemas: ServiceSchemas = build_schemas(service, settings.max_items)
        self.watcher = ChampionWatcher(
            service,
            self.slot,
            registry=stores.registry,
            artifacts=stores.artifacts,
            interval_s=settings.poll_interval_s,
            max_backoff_s=settings.reload_max_backoff_s,
        )
        self.batcher = MicroBatcher(
            self.predict,
            service=service.name,
            max_rows=settings.batch_max_rows,
            max_wait_s=settings.batch_max_wait_ms / 1000.0,
            enabled=settings.batching,
        )
        self._watch: asyncio.Task[None] | None = None
        self._field = service.task.output_field

    def predict(self, inputs: list[Any]) -> tuple[list[Any], str]:
        """Run the current model on validated inputs (one batch, one model version)."""
        loaded = self.slot.current
        if loaded is None:
            raise NoModelError(self.slot.reason or "no model loaded yet")
        task = self.service.task
        raw = task.output_items(loaded.model.predict(task.to_batch(inputs)), len(inputs))
        field = self._field
        # One pass: a non-finite value is the input's fault (422 for that request only); any
        # other bad output is the model's bug and fails the batch (500).
        outputs: list[Any] = [
            UnusableOutput(value) if _non_finite(value) else {field: task.validate_output(value, index=i)}
            for i, value in enumerate(raw)
        ]
        return outputs, loaded.version

    async def start(self) -> None:
        """Load the champion once (so a ready API serves at once), then keep watching."""
        await asyncio.to_thread(self.watcher.check_and_count)
        self.batcher.start()
        self._watch = asyncio.get_running_loop().create_task(self._watch_forever(), name=f"watch-{self.service.name}")

    async def _watch_forever(self) -> None:
        await asyncio.sleep(self.watcher.next_delay())
        await self.watcher.run()

    async def stop(self) -> None:
        """Stop watching and batching (requests in flight have been drained by then)."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self.batcher.stop()
