"""The micro-batcher on its own: coalescing, isolation of failures, abandoned callers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mlseam.serving.batcher import MicroBatcher


class Recorder:
    """A predict function that doubles numbers, remembers its batches, and fails on 13."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, inputs: list[Any]) -> tuple[list[Any], str]:
        with self.lock:
            self.batches.append(list(inputs))
        time.sleep(self.delay)
        if 13 in inputs:
            raise ValueError("13 is unlucky")
        return [2 * x for x in inputs], "v1"


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_concurrent_requests_are_coalesced_and_each_gets_its_own_outputs() -> None:
    async def scenario() -> tuple[list[Any], Recorder]:
        predict = Recorder(delay=0.01)
        batcher = MicroBatcher(predict, service="t", max_rows=64, max_wait_s=0.0)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([i, i + 1000]) for i in range(100, 150)))
        await batcher.stop()
        return results, predict

    results, predict = _run(scenario())
    assert results == [([2 * i, 2 * (i + 1000)], "v1") for i in range(100, 150)]
    assert len(predict.batches) < 50
    assert max(len(batch) for batch in predict.batches) <= 64


def test_a_failing_request_does_not_fail_its_neighbours() -> None:
    async def scenario() -> list[Any]:
        batcher = MicroBatcher(Recorder(delay=0.01), service="t", max_rows=64, max_wait_s=0.005)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([i]) for i in range(10, 17)), return_exceptions=True)
        await batcher.stop()
        return results

    results = _run(scenario())
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [([2 * i], "v1") for i in (10, 11, 12, 14, 15, 16)]


def test_an_abandoned_request_never_stalls_the_batcher() -> None:
    async def scenario() -> tuple[Any, Recorder]:
        predict = Recorder(delay=0.05)
        batcher = MicroBatcher(predict, service="t", max_rows=4, max_wait_s=0.0)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.01)  # the model is now busy with [1]
        abandoned = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0)
        abandoned.cancel()  # its client went away while it was queued
        later = await asyncio.wait_for(batcher.submit([3]), timeout=2)
        await first
        await batcher.stop()
        return later, predict

    later, predict = _run(scenario())
    assert later == ([6], "v1")
    assert [2] not in predict.batches


def test_batching_can_be_turned_off() -> None:
    async def scenario() -> Recorder:
        predict = Recorder()
        batcher = MicroBatcher(predict, service="t", max_rows=64, max_wait_s=0.0, enabled=False)
        batcher.start()
        await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
        await batcher.stop()
        return predict

    assert sorted(_run(scenario()).batches) == [[0], [1], [2], [3], [4]]


def test_queued_requests_are_failed_on_stop_not_forgotten() -> None:
    async def scenario() -> Any:
        batcher = MicroBatcher(Recorder(delay=0.2), service="t", max_rows=1, max_wait_s=0.0)
        batcher.start()
        busy = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0)
        await batcher.stop()
        return await asyncio.gather(busy, queued, return_exceptions=True)

    finished, failed = _run(scenario())
    assert finished == ([2], "v1")  # the batch in progress completes
    assert isinstance(failed, RuntimeError) and "shutting down" in str(failed)


@pytest.mark.parametrize("rows", [1, 3])
def test_a_request_larger_than_a_batch_still_runs(rows: int) -> None:
    async def scenario() -> Any:
        batcher = MicroBatcher(Recorder(), service="t", max_rows=2, max_wait_s=0.0)
        batcher.start()
        result = await batcher.submit(list(range(rows)))
        await batcher.stop()
        return result

    assert _run(scenario()) == ([2 * i for i in range(rows)], "v1")
