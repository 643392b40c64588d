"""The access log: one JSON line per request, written in batches by a background thread, none dropped."""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections import deque
from typing import IO

import orjson

LOGGER_NAME = "mlseam.access"
FLUSH_INTERVAL_S = 0.05
"""Longest a line waits before it is written: short enough to read a live log by."""
MAX_PENDING = 4096
"""Most lines held in memory; the request that fills the buffer writes it out itself (nothing is dropped)."""


class AccessLog:
    """Appends a request's line to a buffer; a thread writes the buffer in one ``write`` every few ms.

    A line carries the fields the process's other JSON log lines carry (``asctime``,
    ``levelname``, ``name``, ``message``, ``request_id``) and the request's method, path,
    status, milliseconds and service. The stdlib ``logging`` machinery (record, filters,
    formatter, a lock and a write per line) cost more than the rest of a quick request, so
    lines are rendered with orjson and written many at a time. Lines keep their order.
    """

    def __init__(self, fd: int, *, flush_interval_s: float = FLUSH_INTERVAL_S, max_pending: int = MAX_PENDING) -> None:
        self.fd = fd
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self._pending: deque[bytes] = deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stamp_second = -1
        self._stamp_prefix = ""

    def request(self, request_id: str, method: str, path: str, status: int, ms: float, service: str) -> None:
        """Queue one request's line; written within ``flush_interval_s`` (at once after ``close``)."""
        line = orjson.dumps(
            {
                "asctime": self._asctime(),
                "levelname": "INFO",
                "name": LOGGER_NAME,
                "message": "request",
                "request_id": request_id,
                "method": method,
                "path": path,
                "status": status,
                "ms": ms,
                "service": service,
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        self._pending.append(line)
        if self._closed or len(self._pending) >= self.max_pending:
            self.flush()
        elif self._thread is None:
            self._start()

    def flush(self) -> None:
        """Write every queued line now, in order."""
        with self._write_lock:
            # deque appends and pops are atomic: a line queued meanwhile waits for the next write.
            pending = self._pending
            lines = [pending.popleft() for _ in range(len(pending))]
            if lines:
                with contextlib.suppress(OSError):  # stderr gone (a closed pipe): nowhere to write; keep serving
                    _write_all(self.fd, b"".join(lines))

    def close(self) -> None:
        """Write what is queued and stop the thread; later lines are written as they come."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self.flush()

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()
                atexit.register(self.close)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval_s)
            self.flush()

    def _asctime(self) -> str:
        """``2026-12-03 15:45:52,123``: the stdlib formatter's ``asctime``, local time, cached per second."""
        now = time.time()
        second = int(now)
        if second != self._stamp_second:
            self._stamp_prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._stamp_second = second
        return f"{self._stamp_prefix},{int((now - second) * 1000):03d}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_installed: AccessLog | None = None


def install_access_log(stream: IO[str] | IO[bytes]) -> AccessLog:
    """Make the process's access lines go to ``stream`` (usually stderr) through an ``AccessLog``."""
    global _installed
    if _installed is not None:
        _installed.close()
    _installed = AccessLog(stream.fileno())
    return _installed


def installed_access_log() -> AccessLog | None:
    """The process's access log, or None when none was installed (the stdlib logger is used then)."""
    return _installed


def close_access_log() -> None:
    """Write the installed access log's queued lines (at shutdown)."""
    if _installed is not None:
        _installed.close()
