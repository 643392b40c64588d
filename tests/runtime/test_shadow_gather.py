"""What the challenger's supervisor hands over in one call: the requests queued close together."""

from __future__ import annotations

import queue
import threading
import time

from mlseam.runtime.shadow.process import GATHER_S, MAX_BYTES_PER_CALL, MAX_JOBS_PER_CALL, ShadowJob, gather


def _job(number: int) -> ShadowJob:
    return ShadowJob(number, b"{}", None, f"p{number}", 1)


def test_requests_arriving_within_the_gathering_time_share_one_call() -> None:
    # given: one request taken, four more arriving a few ms apart
    waiting: queue.Queue[ShadowJob] = queue.Queue()

    def arrive() -> None:
        for number in range(2, 6):
            time.sleep(GATHER_S / 20)
            waiting.put(_job(number))

    producer = threading.Thread(target=arrive)
    producer.start()
    jobs = [_job(1)]
    # when
    gather(waiting, jobs, stopping=threading.Event())
    producer.join()
    # then
    assert [job.number for job in jobs] == [1, 2, 3, 4, 5]


def test_gathering_ends_at_the_call_size_and_leaves_the_rest_queued() -> None:
    waiting: queue.Queue[ShadowJob] = queue.Queue()
    for number in range(2, MAX_JOBS_PER_CALL + 10):
        waiting.put(_job(number))
    jobs = [_job(1)]
    started = time.monotonic()
    gather(waiting, jobs, stopping=threading.Event())
    assert len(jobs) == MAX_JOBS_PER_CALL and time.monotonic() - started < GATHER_S
    assert waiting.qsize() == 9


def test_a_lone_request_goes_once_the_gathering_time_is_over_and_at_once_on_stop() -> None:
    waiting: queue.Queue[ShadowJob] = queue.Queue()
    jobs = [_job(1)]
    started = time.monotonic()
    gather(waiting, jobs, stopping=threading.Event())
    assert [job.number for job in jobs] == [1] and GATHER_S <= time.monotonic() - started < 10 * GATHER_S
    stopping = threading.Event()
    stopping.set()
    started = time.monotonic()
    gather(waiting, jobs, stopping=stopping)
    assert time.monotonic() - started < GATHER_S / 2


def test_gathering_ends_once_the_call_holds_its_bytes() -> None:
    waiting: queue.Queue[ShadowJob] = queue.Queue()
    big = MAX_BYTES_PER_CALL // 3 + 1
    for number in range(2, 6):
        waiting.put(ShadowJob(number, b"x" * big, None, f"p{number}", 1))
    jobs = [ShadowJob(1, b"x" * big, None, "p1", 1)]
    started = time.monotonic()
    gather(waiting, jobs, stopping=threading.Event())
    assert [job.number for job in jobs] == [1, 2, 3] and time.monotonic() - started < GATHER_S
    assert waiting.qsize() == 2
