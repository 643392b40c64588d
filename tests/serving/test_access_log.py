"""The access log writer: every line written, in order, with its fields, however many requests come at once."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

from mlseam.serving.access_log import AccessLog


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_line_is_written_in_order_with_its_fields_when_the_buffer_overflows(tmp_path: Path) -> None:
    # given: a buffer far smaller than the burst, and a thread that would flush only after the burst
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    access = AccessLog(fd, flush_interval_s=10.0, max_pending=7)
    # when
    for i in range(1000):
        access.request(f"req-{i}", "POST", "/digits/v1/predict", 200 if i % 3 else 422, i / 100, "digits")
    access.close()
    os.close(fd)
    # then
    lines = _lines(path)
    assert [line["request_id"] for line in lines] == [f"req-{i}" for i in range(1000)]
    assert lines[6] == {
        "asctime": lines[6]["asctime"],
        "levelname": "INFO",
        "name": "mlseam.access",
        "message": "request",
        "request_id": "req-6",
        "method": "POST",
        "path": "/digits/v1/predict",
        "status": 422,
        "ms": 0.06,
        "service": "digits",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", str(lines[6]["asctime"]))


def test_lines_from_many_threads_are_all_written_whole_by_the_background_thread(tmp_path: Path) -> None:
    # given
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    access = AccessLog(fd, flush_interval_s=0.001, max_pending=50)

    def send(thread: int) -> None:
        for i in range(2000):
            access.request(f"{thread}-{i}", "GET", "/digits/v1/model", 200, 1.5, "digits")

    # when
    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    access.close()
    os.close(fd)
    # then: none lost, none twice, each thread's lines in its order
    ids = [str(line["request_id"]) for line in _lines(path)]
    assert sorted(ids) == sorted(f"{n}-{i}" for n in range(4) for i in range(2000))
    for n in range(4):
        assert [i for i in ids if i.startswith(f"{n}-")] == [f"{n}-{i}" for i in range(2000)]


def test_a_line_queued_after_close_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    access = AccessLog(fd)
    access.request("before", "GET", "/x", 200, 1.0, "-")
    access.close()
    access.request("after", "GET", "/x", 404, 1.0, "-")
    assert [line["request_id"] for line in _lines(path)] == ["before", "after"]
    os.close(fd)


def test_a_closed_stream_loses_the_lines_but_never_raises_into_a_request(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)
    access = AccessLog(write, max_pending=1)
    access.request("gone", "GET", "/x", 200, 1.0, "-")  # EPIPE: the reader is gone
    access.close()
    os.close(write)
