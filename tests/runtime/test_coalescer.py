"""The predict coalescer on its own: grouping concurrent calls, isolating failures, abandoned callers."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from mlseam.runtime.coalescer import PredictCoalescer


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
        batcher = PredictCoalescer(predict, service="t", max_rows=64, max_wait_s=0.0)
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
        batcher = PredictCoalescer(Recorder(delay=0.01), service="t", max_rows=64, max_wait_s=0.005)
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
        batcher = PredictCoalescer(predict, service="t", max_rows=4, max_wait_s=0.0)
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
        batcher = PredictCoalescer(predict, service="t", max_rows=64, max_wait_s=0.0, enabled=False)
        batcher.start()
        await asyncio.gather(*(batcher.submit([i]) for i in range(5)))
        await batcher.stop()
        return predict

    assert sorted(_run(scenario()).batches) == [[0], [1], [2], [3], [4]]


def test_queued_requests_are_failed_on_stop_not_forgotten() -> None:
    async def scenario() -> Any:
        batcher = PredictCoalescer(Recorder(delay=0.2), service="t", max_rows=1, max_wait_s=0.0)
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
        batcher = PredictCoalescer(Recorder(), service="t", max_rows=2, max_wait_s=0.0)
        batcher.start()
        result = await batcher.submit(list(range(rows)))
        await batcher.stop()
        return result

    assert _run(scenario()) == ([2 * i for i in range(rows)], "v1")


class ThreadSpy:
    """Answers after ``delay`` seconds and records which thread ran each batch."""

    def __init__(self, delay: float = 0.0, version: str = "v1") -> None:
        self.delay = delay
        self.version = version
        self.threads: list[str] = []

    def __call__(self, inputs: list[Any]) -> tuple[list[Any], str]:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return list(inputs), self.version


def _sequential(batcher: PredictCoalescer, sizes: list[int]) -> None:
    async def scenario() -> None:
        batcher.start()
        for size in sizes:
            await batcher.submit(list(range(size)))
        await batcher.stop()

    _run(scenario())


def test_a_quick_model_runs_on_the_loop_once_it_is_known_to_be_quick() -> None:
    spy = ThreadSpy()
    _sequential(PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.05), [4] * 20)
    assert spy.threads[0].startswith("predict-t")  # unknown speed: on the batcher's thread
    assert spy.threads[-1] == "MainThread"  # known quick: on the event loop


def test_a_slow_model_never_blocks_the_loop() -> None:
    spy = ThreadSpy(delay=0.003)
    _sequential(PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.002), [4] * 20)
    assert all(name.startswith("predict-t") for name in spy.threads)


def test_a_batch_larger_than_any_recent_one_goes_to_the_thread() -> None:
    spy = ThreadSpy()
    _sequential(PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.05), [4] * 20 + [50])
    assert spy.threads[-2] == "MainThread" and spy.threads[-1].startswith("predict-t")


def test_inline_prediction_can_be_turned_off() -> None:
    spy = ThreadSpy()
    _sequential(PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.0), [4] * 20)
    assert all(name.startswith("predict-t") for name in spy.threads)


def test_a_new_model_version_starts_on_the_thread_again() -> None:
    spy = ThreadSpy()

    async def scenario() -> None:
        batcher = PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.05)
        batcher.start()
        for _ in range(20):
            await batcher.submit([1])
        spy.version = "v2"  # a hot reload swapped the model in
        for _ in range(3):
            await batcher.submit([1])
        await batcher.stop()

    _run(scenario())
    assert spy.threads[19] == "MainThread"
    assert spy.threads[20] == "MainThread"  # the batch that reveals v2 (its version is only known after)
    assert all(name.startswith("predict-t") for name in spy.threads[21:])


def test_a_batch_waits_for_requests_already_on_their_way() -> None:
    async def scenario() -> Recorder:
        predict = Recorder()
        batcher = PredictCoalescer(predict, service="t", max_rows=64, max_wait_s=0.0, gather_s=1.0)
        batcher.start()
        on_the_way = batcher.arrival()  # its body is still being read
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.02)
        assert predict.batches == []  # the batch waits for the body it knows is coming
        second = asyncio.ensure_future(batcher.submit([2], on_the_way))
        await asyncio.gather(first, second)
        await batcher.stop()
        return predict

    assert _run(scenario()).batches == [[1, 2]]


def test_nothing_on_its_way_means_no_wait_and_a_request_that_never_comes_releases_the_batch() -> None:
    async def scenario() -> tuple[float, float, Recorder]:
        predict = Recorder()
        batcher = PredictCoalescer(predict, service="t", max_rows=64, max_wait_s=0.0, gather_s=5.0)
        batcher.start()
        started = time.perf_counter()
        await batcher.submit([1])
        alone = time.perf_counter() - started
        refused = batcher.arrival()  # say its body turns out invalid: it never reaches submit
        waiting = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        refused.close()
        refused.close()  # closing twice counts once
        await waiting
        released = time.perf_counter() - started
        await batcher.stop()
        return alone, released, predict

    alone, released, predict = _run(scenario())
    assert alone < 1.0 and released < 1.0  # far below the 5 s gather limit
    assert predict.batches == [[1], [2]]


def test_a_request_on_its_way_is_waited_for_no_longer_than_the_gather_limit() -> None:
    async def scenario() -> tuple[float, Recorder]:
        predict = Recorder()
        batcher = PredictCoalescer(predict, service="t", max_rows=64, max_wait_s=0.0, gather_s=0.05)
        batcher.start()
        slow = batcher.arrival()  # a client trickling its body in
        started = time.perf_counter()
        await batcher.submit([1])
        waited = time.perf_counter() - started
        slow.close()
        await batcher.stop()
        return waited, predict

    waited, predict = _run(scenario())
    assert 0.04 <= waited < 1.0
    assert predict.batches == [[1]]


class Hiccup(ThreadSpy):
    """Quick, except every tenth batch, which stalls (the machine, not the model)."""

    def __call__(self, inputs: list[Any]) -> tuple[list[Any], str]:
        self.delay = 0.02 if len(self.threads) % 10 == 9 else 0.0
        return super().__call__(inputs)


def test_an_occasional_stalled_batch_keeps_a_quick_model_on_the_loop() -> None:
    spy = Hiccup()
    _sequential(PredictCoalescer(spy, service="t", max_rows=64, max_wait_s=0.0, inline_budget_s=0.005), [4] * 60)
    assert spy.threads[-20:] == ["MainThread"] * 20


def test_a_batch_run_on_the_loop_is_answered_before_the_next_batch_runs() -> None:
    events: list[str] = []

    def predict(inputs: list[Any]) -> tuple[list[Any], str]:
        events.append(f"predict {inputs[0]}")
        return list(inputs), "v1"

    async def scenario() -> None:
        batcher = PredictCoalescer(predict, service="t", max_rows=4, max_wait_s=0.0, inline_budget_s=0.05)
        batcher.start()
        for _ in range(20):  # known quick: on the loop from now on
            await batcher.submit([0])
        events.clear()

        async def ask(first: int) -> None:
            await batcher.submit([first] * 4)
            events.append(f"answered {first}")

        # two full batches queued together: the first one's caller hears back before the second runs
        await asyncio.gather(ask(1), ask(2))
        await batcher.stop()

    _run(scenario())
    assert events == ["predict 1", "answered 1", "predict 2", "answered 2"]
