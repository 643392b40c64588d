"""The load generator's paired mode: two servers measured in turns by one load generator, for A/B figures.

What a challenger in shadow or a log costs is a few percent to a tenth of the throughput, and on a shared
machine the speed drifts by more than that from one run of a few seconds to the next. Here both servers
keep their connections open and take turns (ABBA order): each turn runs ``settle`` seconds uncounted (the
other server's requests in flight end, and so does work it does after answering, such as a challenger's
call) and then ``window`` seconds counted. A slow patch longer than a turn weighs on both alike; only the
sum of each server's windows is reported, in the load generator's usual figures.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORDER = (0, 1, 1, 0)
"""Whose turn it is, turn after turn (ABBA): neither always goes first."""
WARM_TURNS = 2
"""Turns at the start, one each, counted for nobody: connections open, caches warm."""


@dataclass
class Side:
    """One server in the pair: its connections' figures so far and the window being counted."""

    port: int
    requests: list[bytes]
    pid: int
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    window: tuple[float, float] = (math.inf, -math.inf)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    windows: list[tuple[int, float]] = field(default_factory=list)
    """(answers, seconds) of each counted window."""
    cpu: dict[str, float] = field(default_factory=lambda: {"server": 0.0, "children": 0.0, "client": 0.0, "busy": 0.0})


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bytes:
    """Send one request, read its whole answer; the answer's head."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = _content_length(head)
    if length is None:
        raise ValueError("an answer without content-length (the paired mode reads only those)")
    await reader.readexactly(length)
    return head


async def _worker(side: Side, offset: int, stop: asyncio.Event) -> None:
    """Requests back to back on one keep-alive connection whenever it is this side's turn."""
    reader, writer = await asyncio.open_connection("127.0.0.1", side.port)
    index = offset
    try:
        while True:
            await side.gate.wait()
            if stop.is_set():
                return
            started = time.perf_counter()
            try:
                head = await _exchange(reader, writer, side.requests[index % len(side.requests)])
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                side.transport_errors += 1
                side.first_error = side.first_error or f"{type(exc).__name__}: {exc}"
                writer.close()
                await asyncio.sleep(0.01)
                reader, writer = await asyncio.open_connection("127.0.0.1", side.port)
                continue
            index += 1
            done = time.perf_counter()
            low, high = side.window
            if low <= done <= high:
                status = int(head[9:12])
                side.statuses[status] = side.statuses.get(status, 0) + 1
                side.latencies.append(done - started)
                if status != 200 and not side.first_error:
                    side.first_error = f"HTTP {status}"
    finally:
        writer.close()


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def run_pair(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Both servers in ``spec["turns"]`` turns after ``WARM_TURNS``; each side's figures, as ``_load`` gives."""
    import psutil

    sides = [
        Side(s["port"], [t.encode("latin-1") for t in json.loads(Path(s["requests"]).read_text())], s["pid"])
        for s in spec["sides"]
    ]
    servers = [psutil.Process(side.pid) for side in sides]
    me = psutil.Process()

    def cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def sample(which: int) -> dict[str, float]:
        times = psutil.cpu_times()
        return {
            "server": cpu(servers[which]),
            "children": sum(cpu(child) for child in servers[which].children(recursive=True)),
            "client": cpu(me),
            "busy": float(sum(times) - times.idle - getattr(times, "iowait", 0.0)),
        }

    stop = asyncio.Event()
    concurrency, settle, window = int(spec["concurrency"]), float(spec["settle"]), float(spec["window"])
    workers = [asyncio.ensure_future(_worker(side, i * 7, stop)) for side in sides for i in range(concurrency)]
    try:
        for turn in range(WARM_TURNS + int(spec["turns"])):
            which = turn % 2 if turn < WARM_TURNS else ORDER[(turn - WARM_TURNS) % len(ORDER)]
            side = sides[which]
            side.gate.set()
            await asyncio.sleep(settle)
            if turn >= WARM_TURNS:
                before, opened, answered = sample(which), time.perf_counter(), side.statuses.get(200, 0)
                side.window = (opened, opened + window)
                await asyncio.sleep(window)
                closed, after = time.perf_counter(), sample(which)
                side.windows.append((side.statuses.get(200, 0) - answered, closed - opened))
                side.seconds += closed - opened
                for key in side.cpu:
                    side.cpu[key] += after[key] - before[key]
            else:
                await asyncio.sleep(window)
            side.gate.clear()
    finally:
        stop.set()
        for side in sides:
            side.gate.set()
        await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), 30.0)
    return [_figures(side) for side in sides]


def _figures(side: Side) -> dict[str, Any]:
    latencies = sorted(side.latencies)
    seconds = side.seconds or math.nan
    used = side.cpu
    return {
        "completed": len(latencies),
        "seconds": side.seconds,
        "ok": side.statuses.get(200, 0),
        "statuses": {str(k): v for k, v in sorted(side.statuses.items())},
        "transport_errors": side.transport_errors,
        "timed_out": False,
        "first_error": side.first_error,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else math.nan,
        "windows": side.windows,
        "server_cpu": used["server"] / seconds,
        "client_cpu": used["client"] / seconds,
        "children_cpu": used["children"] / seconds,
        "other_cpu": max(0.0, (used["busy"] - used["server"] - used["client"] - used["children"]) / seconds),
    }


def main(spec_json: str) -> int:
    """Child mode: the pair ``spec_json`` describes; prints one JSON line, both sides' figures under "sides"."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps({"sides": asyncio.run(run_pair(json.loads(spec_json)))}), flush=True)
    return 0
