"""Coalescing: concurrent predict requests run together as one ``model.predict`` call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from mlseam.runtime.metrics import CALL_REQUESTS, CALL_ROWS

PredictFn = Callable[[list[Any]], tuple[list[Any], str]]
"""Validated inputs in, (one JSON output per input, model version used) out."""


_RECENT = 32
"""How many recent batch timings decide whether the next batch may run on the loop."""
_SLOW_SHARE = 8
"""At most one in this many recent batches may have been slow for the next to run on the loop."""


class Arrival:
    """A predict request on its way to the coalescer: its body is being read or checked."""

    __slots__ = ("_coalescer",)

    def __init__(self, coalescer: PredictCoalescer | None) -> None:
        self._coalescer = coalescer

    def close(self) -> None:
        """It has arrived, or never will (bad body, client gone); safe to call twice."""
        if self._coalescer is not None:
            self._coalescer._arriving -= 1
            self._coalescer._wakeup.set()
            self._coalescer = None


@dataclass
class _Pending:
    inputs: list[Any]
    future: asyncio.Future[tuple[list[Any], str]]


class PredictCoalescer:
    """Queues validated inputs and runs them through ``predict`` in batches on one thread.

    A batch takes every request queued when the model becomes free (and, with
    ``max_wait_s``, waits that long for more), up to ``max_rows`` rows. Requests already
    on their way (see ``arrival``) are waited for, up to ``gather_s``: their bodies are
    being read, so they join this batch instead of forming a smaller one after it. With
    nothing on its way there is no wait at all, so a lone client never pays for it. A request whose
    client went away is dropped before the batch runs; an exception fails only that batch.
    With ``enabled=False`` each request is predicted on its own.

    A quick model runs on the event loop itself: when the last batches (at least as large as
    this one) took under ``inline_budget_s``, all but one in eight, handing the batch to the
    thread and back would cost more than the loop is blocked. Anything slower, or a batch
    larger than any seen recently, runs on the thread so the loop keeps answering.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        service: str,
        max_rows: int,
        max_wait_s: float,
        enabled: bool = True,
        inline_budget_s: float = 0.0,
        gather_s: float = 0.0,
    ) -> None:
        self.predict = predict
        self.service = service
        self.max_rows = max_rows
        self.max_wait_s = max_wait_s
        self.enabled = enabled
        self.inline_budget_s = inline_budget_s
        self.gather_s = gather_s
        self._arriving = 0
        self._recent: deque[tuple[int, float]] = deque(maxlen=_RECENT)
        self._version = ""
        self._queue: deque[_Pending] = deque()
        self._queued_rows = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: list[_Pending] = []
        self._closing = False
        # One thread: batches run one after another, which is what lets the next one grow.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{service}")

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"coalescer-{self.service}")

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Let the batch in progress finish, then fail what is still queued (never lose it silently)."""
        if self._task is not None:
            self._closing = True
            self._wakeup.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        for pending in [*self._running, *self._queue]:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the API is shutting down"))
        self._queue.clear()
        self._executor.shutdown(wait=True)

    def arrival(self) -> Arrival:
        """Count a request as on its way until ``submit`` takes it or ``Arrival.close`` says it won't come."""
        if not self.enabled or self.gather_s <= 0:
            return Arrival(None)
        self._arriving += 1
        return Arrival(self)

    async def submit(self, inputs: list[Any], arrival: Arrival | None = None) -> tuple[list[Any], str]:
        """Outputs for ``inputs`` (already validated) and the model version that made them."""
        if arrival is not None:
            arrival.close()
        loop = asyncio.get_running_loop()
        if not self.enabled:
            CALL_ROWS.labels(self.service).observe(len(inputs))
            CALL_REQUESTS.labels(self.service).observe(1)
            return await loop.run_in_executor(self._executor, self.predict, inputs)
        future: asyncio.Future[tuple[list[Any], str]] = loop.create_future()
        self._queue.append(_Pending(inputs, future))
        self._queued_rows += len(inputs)
        self._wakeup.set()
        return await future

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        rows = 0
        while self._queue:
            head = self._queue[0]
            if head.future.done():  # the client disconnected and its handler was cancelled
                self._queue.popleft()
                self._queued_rows -= len(head.inputs)
                continue
            if batch and rows + len(head.inputs) > self.max_rows:
                break
            self._queue.popleft()
            self._queued_rows -= len(head.inputs)
            batch.append(head)
            rows += len(head.inputs)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                if self._closing:
                    return
            if self.max_wait_s > 0 and self._queued_rows < self.max_rows:
                await self._gather(self.max_wait_s, lambda: True)
            if self._arriving > 0 and self._queued_rows < self.max_rows:
                await self._gather(self.gather_s, lambda: self._arriving > 0)
            batch = self._running = self._take_batch()
            if not batch:
                continue
            flat = [item for pending in batch for item in pending.inputs]
            CALL_ROWS.labels(self.service).observe(len(flat))
            CALL_REQUESTS.labels(self.service).observe(len(batch))
            try:
                if self._may_inline(len(flat)):
                    outputs, version, seconds = self._timed_predict(flat)
                else:
                    outputs, version, seconds = await loop.run_in_executor(self._executor, self._timed_predict, flat)
            except Exception as exc:  # noqa: BLE001 - delivered to exactly the requests that cause it
                self._recent.clear()  # a failing model is no longer known to be quick
                if len(batch) == 1:
                    if not batch[0].future.done():
                        batch[0].future.set_exception(exc)
                else:
                    await self._isolate(batch)
                continue
            if version != self._version:  # a new model: its speed is unknown
                self._version = version
                self._recent.clear()
            self._recent.append((len(flat), seconds))
            _deliver(batch, outputs, version)
            # Let these answers go out (and the requests waiting in the sockets in) before the next batch: one
            # run on the loop right away would hold them for a whole predict, and their clients, which cannot
            # send their next requests meanwhile, would leave the model idle afterwards.
            await asyncio.sleep(0)

    def _timed_predict(self, inputs: list[Any]) -> tuple[list[Any], str, float]:
        """``predict(inputs)`` and the seconds it took."""
        started = time.perf_counter()
        outputs, version = self.predict(inputs)
        return outputs, version, time.perf_counter() - started

    async def _gather(self, wait_s: float, waiting: Callable[[], bool]) -> None:
        """Let the queue grow for up to ``wait_s`` while ``waiting()`` holds and the batch is not full."""
        deadline = time.monotonic() + wait_s
        while waiting() and self._queued_rows < self.max_rows and (left := deadline - time.monotonic()) > 0:
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), left)

    def _may_inline(self, rows: int) -> bool:
        if self.inline_budget_s <= 0 or len(self._recent) < _RECENT // 4:
            return False
        largest, slow = 0, 0
        for seen, seconds in self._recent:
            slow += seconds >= self.inline_budget_s
            largest = max(largest, seen)
        # A few slow batches are the machine's doing (another process took the CPU, the loop held the
        # GIL meanwhile), not the model's: counted as slow, they would send every later batch to the
        # thread and keep them there, each paying the hand-off.
        return slow <= len(self._recent) // _SLOW_SHARE and rows <= largest

    async def _isolate(self, batch: Sequence[_Pending]) -> None:
        """Re-run a failed batch one request at a time, so only the culprit sees the error."""
        loop = asyncio.get_running_loop()
        for pending in batch:
            if pending.future.done():
                continue
            try:
                result = await loop.run_in_executor(self._executor, self.predict, pending.inputs)
            except Exception as exc:  # noqa: BLE001 - this request's own failure
                pending.future.set_exception(exc)
            else:
                pending.future.set_result(result)


def _deliver(batch: Sequence[_Pending], outputs: list[Any], version: str) -> None:
    start = 0
    for pending in batch:
        end = start + len(pending.inputs)
        if not pending.future.done():
            pending.future.set_result((outputs[start:end], version))
        start = end
