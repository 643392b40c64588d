"""Benchmark: the digits API as `mlseam serve` ships it vs a minimal FastAPI app, a raw ASGI floor, in-process predict.

Everything is measured in one run on this machine, every server with its default logging:

* ``in-process``: the champion's ``predict`` called directly on 1-row and 100-row calls (no JSON, no HTTP),
  in a child process pinned to CPU 0: the ceiling no HTTP server can beat;
* ``mlseam``: ``mlseam serve digits`` exactly as it ships (coalescing, the access log at INFO, the
  prediction log at its local share, metrics), pinned to CPU 0;
* ``mlseam-nolog`` and ``mlseam-noaccess``: the same with the prediction log off, or the access log off
  (``MLSEAM_LOG_LEVEL=WARNING``): what each log costs;
* ``mlseam-shadow``: the same with a pending challenger in shadow at its default share (a copy of the champion,
  so it costs what a retrained candidate would), its own process on the same CPU: the champion's throughput
  with and without it, beside the share's own cost (the challenger's predict cost x share);
* ``minimal``: what a user would write around the same fitted scikit-learn estimator: one sync ``def``
  FastAPI endpoint, body ``list[list[float]]`` (64-pixel rows), ``np.asarray(rows)`` straight into the
  fitted pipeline's ``predict`` (not the mlseam model class), labels out; uvicorn with uvloop, httptools,
  one worker and its defaults (its access log on), pinned to CPU 0;
* ``floor``: a raw ASGI app that reads the body and answers a fixed label (no model, no validation) under
  the same uvicorn: what no Python server on this uvicorn can beat.

Setup (not measured): a local stack (real PostgreSQL and the AWS emulator on free ports, in a temp dir, pinned
to CPU 1: in AWS they run on other machines), the digits demo data seeded and one retrain, whose champion every
server and the in-process baseline load; mlseam's bytecode compiled, as installing it does (an editable install
under PYTHONDONTWRITEBYTECODE=1 would compile its modules from source at every start).

The load generator is a small raw asyncio HTTP/1.1 keep-alive client (one connection per concurrent
worker, pre-encoded requests, uvloop), run in a child process pinned to CPU 1 for each scenario: 1-row and
100-row requests at concurrency 1, 8 and 64, each a warm-up (discarded) then ``--duration`` seconds measured,
in ``--runs`` rounds. The servers are started one after the other and stay up; the scenarios alternate
between them in ABBA order, so that a slow patch of a shared machine weighs on all. Then mlseam and each
server it is compared with (shadow, access log off, prediction log off) take 1 s turns at 1 row c=64 under
one load generator (``paired_load``), for the A/B aims. Each round ends with
100 rows at c=8 again for mlseam and the minimal app with a busy loop pinned to the load generator's CPU
(the neighbour). Then py-spy samples mlseam during 1 row c=64 and 100 rows c=8, and each sample is put in
one stage of a request (parse, validate, queue, predict, write, log, metrics, http, loop).
The load generator reports its own CPU use and the server's (and everything else's on the machine), so a
saturated client or a busy machine shows. Any non-200 answer or transport error is counted and printed.
RSS (process and children) is read after a warm-up burst and again after all scenarios; time to ready is
from process start to the first ``200`` on the readiness probe, the median of three cold starts. For scale,
also measured: a fresh Python that only unpickles the champion (importing its model module and
scikit-learn) and exits.

The project's aims are printed with a verdict each (met/missed) per round; the script only measures and
prints and exits 0 once it has printed (1 when the setup or a run itself failed, 130 when interrupted).

Usage: ``.venv/bin/python bench/serving.py [--duration S] [--runs N] [--only SERVER ...] [--scenario 1x64 ...]
[--no-neighbour] [--no-profile] [--keep-profiles DIR] [--profile-server NAME] [--mlseam-env MLSEAM_X=VALUE ...]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import harness
import paired_load
import profile_breakdown
from serving_report import (
    NEIGHBOUR_SCENARIO,
    NOACCESS,
    NOLOG,
    PROFILED_SCENARIOS,
    SHADOW,
    Profile,
    Scenario,
    ServerRun,
    neighbour_ratios,
    print_aims,
    print_comparison,
    print_inprocess,
    print_log_costs,
    print_profile,
    print_server,
    print_shadow_cost,
)

SERVICE = "digits"
SERVER_CPU = 0
CLIENT_CPU = 1
SCENARIOS: tuple[tuple[int, int], ...] = ((1, 1), (1, 8), (1, 64), (100, 1), (100, 8), (100, 64))
"""(rows per request, concurrency)."""
WARMUP_S = 1.0
PAIR_SETTLE_S = 0.5
"""Each turn of a pair starts uncounted this long: longer than a challenger in shadow gathers requests."""
PAIR_WINDOW_S = 1.0
"""Then counts this long; turns go on until each server was counted ``--duration`` seconds (rounded up)."""
PAIRED_WITH = (SHADOW, NOACCESS, NOLOG)
"""The servers measured in turns with mlseam as it ships: what a challenger, the access log, the prediction log cost."""
MLSEAM_VARIANTS: dict[str, dict[str, str]] = {
    "mlseam": {},
    NOLOG: {"MLSEAM_PREDICTION_LOG": "false"},
    NOACCESS: {"MLSEAM_LOG_LEVEL": "WARNING"},
    # Its own registry table, holding the champion and a pending copy of it: the other servers see no challenger.
    SHADOW: {"MLSEAM_REGISTRY_TABLE": "mlseam-registry-bench-shadow"},
}
"""The environment each mlseam server adds to `mlseam serve`'s defaults."""
SERVERS: tuple[tuple[str, str], ...] = (
    (
        "mlseam",
        "mlseam API as it ships (`mlseam serve digits`: access log, prediction log at its local share, metrics)",
    ),
    (NOLOG, "mlseam API with the prediction log off (MLSEAM_PREDICTION_LOG=false)"),
    (NOACCESS, "mlseam API with the access log off (MLSEAM_LOG_LEVEL=WARNING)"),
    (SHADOW, "mlseam API with a pending challenger in shadow at the default share (shadow.share 0.1)"),
    ("minimal", "minimal FastAPI app (sync def, list[list[float]], np.asarray into the fitted pipeline)"),
    ("floor", "raw ASGI floor (reads the body, answers a fixed label)"),
)
READY_STARTS = 3
CHILD_SLACK_S = 60.0
INPROCESS_SECONDS = 2.0
CHECK_IMAGES = 100

MINIMAL_APP = '''\
"""A minimal FastAPI app serving the digits champion's fitted pipeline (written and started by bench/serving.py)."""

import os
import pickle
from pathlib import Path

import numpy as np
from fastapi import FastAPI

from mlseam.manifest import load_service

load_service("digits", Path(os.environ["BENCH_SERVICES_DIR"]))  # makes the model's module importable
with open(os.environ["BENCH_MODEL_PATH"], "rb") as file:
    estimator = pickle.load(file).pipeline  # the fitted scikit-learn pipeline, not the mlseam model class

app = FastAPI()


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
def predict(rows: list[list[float]]) -> list[str]:
    return estimator.predict(np.asarray(rows)).tolist()
'''
MINIMAL_MODULE = "bench_minimal_app"

FLOOR_APP = '''\
"""The raw ASGI floor: reads the body, answers a fixed label; no model, no validation (bench/serving.py)."""


async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"5")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b\'["0"]\'})
'''
FLOOR_MODULE = "bench_floor_app"

NEIGHBOUR = "while True: pass"
"""A CPU-bound neighbour: one busy loop, pinned to the load generator's CPU."""

LOAD_ONLY = """\
import os, pickle
from pathlib import Path
from mlseam.manifest import load_service
load_service("digits", Path(os.environ["BENCH_SERVICES_DIR"]))
with open(os.environ["BENCH_MODEL_PATH"], "rb") as file:
    pickle.load(file)
"""
"""The scale of any server's time to ready: a fresh Python that only unpickles the champion, then exits."""


# --- small functions shared by the parent and the children ----------------------------------------------------


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1) of an already sorted sequence; NaN when empty."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """``argv`` run on one CPU with taskset when that is possible here; else ``argv`` unchanged."""
    if shutil.which("taskset") and cpu in os.sched_getaffinity(0):
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def pin_children(cpu: int) -> str:
    """Every process this one has started so far (the local stack) and their future children on ``cpu``.

    In AWS, PostgreSQL (RDS), DynamoDB and S3 run on other machines: the prediction log's writes must not
    take the API's CPU. Unpinned, the stack's processes run wherever a CPU is free, which is the server's
    as soon as the load generator's CPU is busy (the neighbour scenario), and only for mlseam, whose
    prediction log writes there.
    """
    import psutil

    if cpu not in os.sched_getaffinity(0):
        return "the local stack NOT pinned"
    pinned_now = 0
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            child.cpu_affinity([cpu])
            pinned_now += 1
    return f"the local stack ({pinned_now} processes) pinned to CPU {cpu}, the load generator's"


def compile_mlseam() -> str:
    """mlseam's bytecode, written as installing it writes it (pip compiles a package it installs; the image has it).

    An editable install under PYTHONDONTWRITEBYTECODE=1 never writes it, and every start of a server would
    then compile mlseam's modules from source, which no deployed API does: 100-odd modules for mlseam, a
    score for the minimal app, while every library it imports is compiled.
    """
    import compileall

    import mlseam

    package = Path(mlseam.__file__).parent
    if not compileall.compile_dir(package, quiet=1):
        raise RuntimeError(f"could not compile {package}")
    return f"mlseam's bytecode compiled ({package})"


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants."""
    import psutil

    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return int(total)


# --- child: the load generator --------------------------------------------------------------------------------


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    transport_errors: int = 0
    first_error: str = ""


def _content_length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _worker(
    port: int, requests: list[bytes], offset: int, measure_from: float, end: float, tally: _Tally
) -> None:
    """Send requests back to back on one keep-alive connection until ``end``; tally the measured ones."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = offset
    try:
        while (started := time.perf_counter()) < end:
            request = requests[index % len(requests)]
            index += 1
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if length is not None:
                    await reader.readexactly(length)
                else:
                    await _read_chunked(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                tally.transport_errors += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                writer.close()
                await asyncio.sleep(0.01)
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            done = time.perf_counter()
            if measure_from <= done <= end:  # completions in the window: requests in flight at its edges too
                status = int(head[9:12])
                tally.statuses[status] = tally.statuses.get(status, 0) + 1
                tally.latencies.append(done - started)
                if status != 200 and not tally.first_error:
                    tally.first_error = f"HTTP {status}"
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def _load(args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    requests = [text.encode("latin-1") for text in json.loads(Path(args.requests).read_text())]
    server = psutil.Process(args.server_pid)
    me = psutil.Process()
    tallies = [_Tally() for _ in range(args.concurrency)]
    start = time.perf_counter()
    measure_from = start + args.warmup
    end = measure_from + args.duration
    samples: dict[str, float] = {}

    def cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    def busy() -> float:
        times = psutil.cpu_times()
        return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))

    def children() -> float:
        # The challenger's process in shadow, when the server runs one.
        return sum(cpu(child) for child in server.children(recursive=True))

    async def sample() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        samples.update(server0=cpu(server), client0=cpu(me), busy0=busy(), children0=children())
        samples["t0"] = time.perf_counter()
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        samples.update(server1=cpu(server), client1=cpu(me), busy1=busy(), children1=children())
        samples["t1"] = time.perf_counter()

    workers = [_worker(args.port, requests, i * 7, measure_from, end, tally) for i, tally in enumerate(tallies)]
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.gather(sample(), *workers), args.warmup + args.duration + 30.0)
    except TimeoutError:
        timed_out = True
    latencies = sorted(latency for tally in tallies for latency in tally.latencies)
    statuses: dict[int, int] = {}
    for tally in tallies:
        for status, count in tally.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    wall = samples.get("t1", time.perf_counter()) - samples.get("t0", measure_from)
    return {
        "completed": len(latencies),
        "seconds": args.duration,
        "ok": statuses.get(200, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "transport_errors": sum(t.transport_errors for t in tallies),
        "timed_out": timed_out,
        "first_error": next((t.first_error for t in tallies if t.first_error), ""),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] * 1000) if latencies else math.nan,
        "server_cpu": (samples["server1"] - samples["server0"]) / wall if "server1" in samples else math.nan,
        "client_cpu": (samples["client1"] - samples["client0"]) / wall if "client1" in samples else math.nan,
        "children_cpu": (samples["children1"] - samples["children0"]) / wall if "children1" in samples else math.nan,
        # Every other process on the machine (the other CPU too): interference with the measurement.
        "other_cpu": max(
            0.0,
            (
                samples["busy1"]
                - samples["busy0"]
                - (samples["server1"] - samples["server0"])
                - (samples["client1"] - samples["client0"])
                - (samples["children1"] - samples["children0"])
            )
            / wall,
        )
        if "busy1" in samples
        else math.nan,
    }


def loadgen(args: argparse.Namespace) -> int:
    """Child mode: one scenario against one server; prints one JSON line of figures."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(args))), flush=True)
    return 0


# --- child: in-process model.predict ------------------------------------------------------------------------------


def inprocess(args: argparse.Namespace) -> int:
    """Child mode: call the champion's predict directly, 1-row then 100-row calls; one JSON line."""
    from sklearn.datasets import load_digits

    from mlseam.manifest import load_service
    from mlseam.runtime.codec import load_model

    load_service(SERVICE, Path(args.services_dir))
    model = load_model(Path(args.model).read_bytes(), service=SERVICE, where=SERVICE)
    images = list(load_digits().images)
    figures: dict[str, Any] = {}
    for rows in (1, 100):
        batches = [images[i * rows % len(images) :][:rows] for i in range(64)]
        batches = [b if len(b) == rows else images[:rows] for b in batches]
        warm_end = time.perf_counter() + 0.3
        while time.perf_counter() < warm_end:
            model.predict(batches[0])
        latencies: list[float] = []
        end = time.perf_counter() + args.seconds
        i = 0
        while (started := time.perf_counter()) < end:
            model.predict(batches[i % len(batches)])
            latencies.append(time.perf_counter() - started)
            i += 1
        total = sum(latencies)
        latencies.sort()
        figures[str(rows)] = {
            "calls_per_s": len(latencies) / total,
            "rows_per_s": len(latencies) * rows / total,
            "p50_ms": percentile(latencies, 0.5) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
        }
    print(json.dumps(figures), flush=True)
    return 0


# --- parent: setup, servers, scenarios, report -----------------------------------------------------------------


@dataclass
class Live:
    """A server being measured: its figures so far, process, port and pre-encoded request files."""

    run: ServerRun
    proc: harness.Proc
    port: int
    files: dict[int, Path]


def http_request(port: int, path: str, body: bytes) -> str:
    """Pre-encoded HTTP/1.1 keep-alive POST (latin-1 text so it survives JSON)."""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return (head.encode("latin-1") + body).decode("latin-1")


def _rows_batches(images: list[Any], rows: int, count: int) -> list[list[Any]]:
    return [[images[(i * rows + j) % len(images)] for j in range(rows)] for i in range(count)]


def body_for(server: str, images: list[Any]) -> bytes:
    """The request body each server expects: mlseam 8x8 nested lists, minimal flattened 64-number rows."""
    import orjson

    pixels = [[[int(v) for v in row] for row in image.tolist()] for image in images]
    if server.startswith("mlseam"):
        return orjson.dumps({"inputs": pixels})
    return orjson.dumps([[v for row in image for v in row] for image in pixels])


def labels_from(server: str, answer: Any) -> list[str]:
    if server.startswith("mlseam"):
        return [str(output["label"]) for output in answer["outputs"]]
    return [str(label) for label in answer]


def scrape_batches(port: int) -> tuple[float, float, float]:
    """(batches, requests, rows) so far from mlseam's /metrics."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/{SERVICE}/metrics", timeout=5.0).text
    found = {"requests_count": 0.0, "requests_sum": 0.0, "rows_sum": 0.0}
    for line in text.splitlines():
        for key in found:
            if line.startswith(f"mlseam_predict_call_{key}{{") and f'service="{SERVICE}"' in line:
                found[key] = float(line.rsplit(" ", 1)[1])
    return found["requests_count"], found["requests_sum"], found["rows_sum"]


def scrape_shadow(port: int) -> dict[str, float]:
    """Requests handed to the challenger so far, by outcome, from the shadow server's /metrics."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/{SERVICE}/metrics", timeout=5.0).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("mlseam_shadow_requests_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


class Bench:
    """The parent: owns the temp dir, the local stack and every process it starts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.duration: float = 1.0 if args.quick else float(args.duration)
        self.scenarios = [key for key in SCENARIOS if not args.scenario or f"{key[0]}x{key[1]}" in args.scenario]
        self.warmup = min(WARMUP_S, self.duration)
        self.tmp = Path(tempfile.mkdtemp(prefix="mlseam-bench-serving-"))
        self.procs: list[harness.Proc] = []
        self.stack: Any = None
        self.settings: Any = None
        self.services_dir = harness.REPO_ROOT / "services"
        self.shadow_services_dir = self.tmp / "shadow-services"
        self.model_path = self.tmp / "champion.pkl"
        self.images: list[Any] = []
        self.expected: list[str] = []
        self.champion = "?"

    # setup ------------------------------------------------------------------------------------------------------

    def setup(self) -> str:
        from sklearn.datasets import load_digits

        from mlseam.runtime.codec import load_model

        started = time.perf_counter()
        compiled = compile_mlseam()
        self.settings, self.stack = harness.configure_stack(self.tmp, self.services_dir)
        self.stack.start()
        stack_cpu = pin_children(CLIENT_CPU)
        stores, champion = harness.seed_champion(self.settings, SERVICE)
        record = stores.registry.get_version(SERVICE, champion.version)
        data = stores.artifacts.get(record.artifact_key, record.artifact_sha256)
        self.model_path.write_bytes(data)
        self.champion = record.version
        model = load_model(data, service=SERVICE, where=SERVICE)
        self.images = list(load_digits().images)
        self.expected = [str(label) for label in model.predict(self.images[:CHECK_IMAGES])]
        if not self.args.only or SHADOW in self.args.only:
            self.seed_shadow(record)
        return (
            f"local stack, seed and retrain in {time.perf_counter() - started:.1f} s "
            f"(champion {record.version}, {len(data) / 1024:.0f} KiB artifact); {stack_cpu}; {compiled}"
        )

    def seed_shadow(self, record: Any) -> None:
        """The shadow server's registry: the champion, and a copy of it pending approval (the challenger); and
        its services folder, where digits is under ``promotion: {local: approve}`` so its API may shadow."""
        import dataclasses

        import yaml

        from mlseam.aws import aws_client
        from mlseam.registry import Status
        from mlseam.registry.table import create_registry_table
        from mlseam.stores import build_stores

        shutil.copytree(self.services_dir / SERVICE, self.shadow_services_dir / SERVICE)
        manifest = self.shadow_services_dir / SERVICE / "service.yaml"
        manifest.write_text(yaml.safe_dump({**yaml.safe_load(manifest.read_text()), "promotion": {"local": "approve"}}))
        table = MLSEAM_VARIANTS[SHADOW]["MLSEAM_REGISTRY_TABLE"]
        create_registry_table(aws_client(self.settings, "dynamodb"), table)
        registry = build_stores(self.settings.model_copy(update={"registry_table": table})).registry
        for status in (Status.PROMOTED, Status.PENDING):
            copy = dataclasses.replace(record, number=registry.allocate_version(SERVICE), status=Status.RUNNING)
            registry.create_version(copy)
            copy.status = status
            registry.update_version(copy)
            if status is Status.PROMOTED:
                registry.move_champion(
                    SERVICE, copy.version, expected_revision=0, action="promote", reason="bench", actor="bench"
                )

    def await_challenger(self, port: int) -> None:
        """Wait until the shadow server's challenger process has loaded (it loads after the API is ready)."""
        import httpx

        deadline = time.monotonic() + CHILD_SLACK_S
        while time.monotonic() < deadline:
            text = httpx.get(f"http://127.0.0.1:{port}/{SERVICE}/metrics", timeout=5).text
            if any(line.startswith("mlseam_shadow_loaded{") and line.endswith(" 1.0") for line in text.splitlines()):
                return
            time.sleep(0.1)
        raise RuntimeError("the shadow server's challenger never loaded")

    def served_env(self, port: int) -> dict[str, str]:
        """The environment of `mlseam serve`: only the stack's location and port; defaults otherwise (its log
        level too: INFO, the access log on)."""
        env = harness.build_served_env(self.settings, self.services_dir, port)
        del env["MLSEAM_LOG_LEVEL"]
        return env

    # in-process baseline ----------------------------------------------------------------------------------------

    def run_inprocess(self) -> dict[str, Any]:
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            "inprocess",
            "--model",
            str(self.model_path),
            "--services-dir",
            str(self.services_dir),
            "--seconds",
            str(min(INPROCESS_SECONDS, self.duration)),
        ]
        return harness.run_child_json(pinned(SERVER_CPU, argv), "in-process child", CHILD_SLACK_S * 2)

    def load_only(self) -> list[float]:
        """Seconds a fresh Python pinned to the server CPU takes to unpickle the champion and exit, per start."""
        env = harness.strip_mlseam_env()
        env.update(BENCH_MODEL_PATH=str(self.model_path), BENCH_SERVICES_DIR=str(self.services_dir))
        samples = []
        for _ in range(READY_STARTS):
            started = time.perf_counter()
            subprocess.run(
                pinned(SERVER_CPU, [sys.executable, "-c", LOAD_ONLY]),
                env=env,
                cwd=harness.REPO_ROOT,
                check=True,
                timeout=CHILD_SLACK_S,
            )
            samples.append(time.perf_counter() - started)
        return samples

    # servers ----------------------------------------------------------------------------------------------------

    def start_server(self, name: str) -> tuple[harness.Proc, int, str, float]:
        """Start ``name`` pinned to the server CPU; (process, port, predict path, seconds to ready)."""
        from mlseam.local.ports import free_port

        port = free_port()
        log = self.tmp / f"{name}-{port}.log"
        if name.startswith("mlseam"):
            argv = [sys.executable, "-m", "mlseam.cli", "serve", SERVICE]
            env = self.served_env(port)
            env.update(MLSEAM_VARIANTS[name])
            if name == SHADOW:
                env["MLSEAM_SERVICES_DIR"] = str(self.shadow_services_dir)
            env.update(item.split("=", 1) for item in self.args.mlseam_env or [])
            ready_path, predict_path = f"/{SERVICE}/readyz", f"/{SERVICE}/v1/predict"
        else:
            module, source = (MINIMAL_MODULE, MINIMAL_APP) if name == "minimal" else (FLOOR_MODULE, FLOOR_APP)
            (self.tmp / f"{module}.py").write_text(source)
            # uvicorn's own defaults otherwise: its access log on, log level info.
            argv = [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(self.tmp)]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
            argv += ["--workers", "1"]
            env = harness.strip_mlseam_env()
            env.update(BENCH_MODEL_PATH=str(self.model_path), BENCH_SERVICES_DIR=str(self.services_dir))
            ready_path, predict_path = "/readyz", "/predict"
        started = time.perf_counter()
        proc = harness.Proc(name, pinned(SERVER_CPU, argv), env, log, harness.REPO_ROOT)
        self.procs.append(proc)
        ready = harness.poll_readiness(proc, f"http://127.0.0.1:{port}{ready_path}", started, interval_s=0.01)
        return proc, port, predict_path, ready

    def check_answers(self, name: str, port: int, path: str) -> str:
        """Whether the server's labels for the first images are in-process predict's."""
        import httpx

        if name == "floor":
            return "not checked (a fixed label by design)"
        response = httpx.post(
            f"http://127.0.0.1:{port}{path}",
            content=body_for(name, self.images[:CHECK_IMAGES]),
            headers={"content-type": "application/json"},
            timeout=30.0,
        )
        if response.status_code != 200:
            return f"NO: HTTP {response.status_code}: {response.text[:300]}"
        got = labels_from(name, response.json())
        if got != self.expected:
            wrong = sum(a != b for a, b in zip(got, self.expected, strict=False))
            return f"NO: {wrong} of {len(self.expected)} labels differ from in-process predict"
        return f"yes ({len(got)} images, same labels as in-process predict)"

    def write_requests(self, name: str, port: int, path: str, rows: int) -> Path:
        count = 64 if rows == 1 else 18
        requests = [
            http_request(port, path, body_for(name, batch)) for batch in _rows_batches(self.images, rows, count)
        ]
        target = self.tmp / f"requests-{name}-{rows}.json"
        target.write_text(json.dumps(requests))
        return target

    def load(
        self, proc: harness.Proc, port: int, requests: Path, concurrency: int, warmup: float, duration: float
    ) -> dict[str, Any]:
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            "loadgen",
            "--port",
            str(port),
            "--requests",
            str(requests),
            "--concurrency",
            str(concurrency),
            "--warmup",
            str(warmup),
            "--duration",
            str(duration),
            "--server-pid",
            str(proc.pid),
        ]
        return harness.run_child_json(
            pinned(CLIENT_CPU, argv), "load generator", warmup + duration + CHILD_SLACK_S, stderr_chars=2000
        )

    def start_live(self, name: str, title: str) -> Live:
        """Start a server, check its answers and pre-encode its requests."""
        run = ServerRun(name, title)
        # One start is one noisy sample; the figure is the median of a few cold starts, the last one kept.
        for _ in range(READY_STARTS - 1):
            proc, _, _, ready = self.start_server(name)
            run.ready_samples.append(ready)
            proc.stop()
            self.procs.remove(proc)
        proc, port, path, ready = self.start_server(name)
        run.ready_samples.append(ready)
        run.ready_s = statistics.median(run.ready_samples)
        if name == SHADOW:
            self.await_challenger(port)
        run.rss_ready = rss_bytes(proc.pid)
        run.agrees = self.check_answers(name, port, path)
        files = {rows: self.write_requests(name, port, path, rows) for rows in sorted({r for r, _ in SCENARIOS})}
        return Live(run, proc, port, files)

    def warm(self, live: Live) -> None:
        """A burst of both request sizes, then RSS: caches, arenas and code paths are hot by then."""
        for rows in live.files:
            self.load(live.proc, live.port, live.files[rows], 8, 0.0, max(0.5, self.warmup))
        live.run.rss_warm = rss_bytes(live.proc.pid)

    def scenario(self, live: Live, rows: int, concurrency: int, note: str = "") -> Scenario:
        """One measured scenario; for mlseam also the mean batch it made, from its own metrics."""
        before = scrape_batches(live.port) if live.run.name.startswith("mlseam") else None
        raw = self.load(live.proc, live.port, live.files[rows], concurrency, self.warmup, self.duration)
        scenario = Scenario(rows, concurrency, raw)
        if before is not None:
            after = scrape_batches(live.port)
            batches = after[0] - before[0]
            if batches > 0:
                scenario.batch_requests = (after[1] - before[1]) / batches
                scenario.batch_rows = (after[2] - before[2]) / batches
        print(
            f"  {live.run.name} {rows} rows c={concurrency}: {scenario.req_s:,.0f} req/s, "
            f"p99 {raw['p99_ms']:.1f} ms, {scenario.errors} errors" + (f" ({note})" if note else ""),
            file=sys.stderr,
            flush=True,
        )
        return scenario

    def round(self, lives: list[Live], index: int) -> dict[str, ServerRun]:
        """Every scenario on every server (ABBA order), then the neighbour scenario: this round's figures."""
        for live in lives:
            live.run = replace(live.run, scenarios={}, neighbour=None, paired={})
        print(f"round {index + 1}:", file=sys.stderr, flush=True)
        for step, (rows, concurrency) in enumerate(self.scenarios):
            for live in lives if step % 2 == 0 else lives[::-1]:
                live.run.scenarios[(rows, concurrency)] = self.scenario(live, rows, concurrency)
        self.pairs(lives)
        if not self.args.no_neighbour:
            self.with_neighbour([live for live in lives if live.run.name in ("mlseam", NOLOG, "minimal")], index)
        return {live.run.name: live.run for live in lives}

    def pairs(self, lives: list[Live]) -> None:
        """1 row c=64 on mlseam and on each server it is compared with (a challenger in shadow, a log off), the
        two taking turns under one load generator (``paired_load``): the differences looked for are a few
        percent to a tenth, and a shared machine's speed drifts by more than that between two runs."""
        by_name = {live.run.name: live for live in lives}
        base = by_name.get("mlseam")
        if base is None or (1, 64) not in self.scenarios:
            return
        for partner in PAIRED_WITH:
            other = by_name.get(partner)
            if other is None:
                continue
            shadow_before = scrape_shadow(other.port) if partner == SHADOW else None
            served_before = scrape_batches(other.port)[1]
            mine, theirs = self.paired(base, other, 1, 64)
            if shadow_before is not None:
                after = scrape_shadow(other.port)
                theirs["shadow_outcomes"] = {k: v - shadow_before.get(k, 0.0) for k, v in after.items()}
                theirs["served_while_paired"] = scrape_batches(other.port)[1] - served_before
            base.run.paired[partner] = Scenario(1, 64, mine)
            other.run.paired["mlseam"] = Scenario(1, 64, theirs)
            turns = zip(mine["windows"], theirs["windows"], strict=True)
            print(
                f"  mlseam and {partner} in turns, 1 row c=64: {base.run.paired[partner].req_s:,.0f} vs "
                f"{other.run.paired['mlseam'].req_s:,.0f} req/s; turn by turn "
                + " ".join(f"{a[0] / a[1]:,.0f}/{b[0] / b[1]:,.0f}" for a, b in turns),
                file=sys.stderr,
                flush=True,
            )

    def paired(self, a: Live, b: Live, rows: int, concurrency: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Both servers taking turns for ``duration`` seconds counted each; each one's load generator figures."""
        turns = len(paired_load.ORDER) * math.ceil(self.duration / (2 * PAIR_WINDOW_S))
        spec = {
            "sides": [{"port": x.port, "requests": str(x.files[rows]), "pid": x.proc.pid} for x in (a, b)],
            "concurrency": concurrency,
            "settle": PAIR_SETTLE_S,
            "window": PAIR_WINDOW_S,
            "turns": turns,
        }
        argv = [sys.executable, str(Path(__file__).resolve()), "--role", "paired", "--spec", json.dumps(spec)]
        seconds = (paired_load.WARM_TURNS + turns) * (PAIR_SETTLE_S + PAIR_WINDOW_S)
        figures = harness.run_child_json(
            pinned(CLIENT_CPU, argv), "paired load generator", seconds + CHILD_SLACK_S, stderr_chars=2000
        )
        mine, theirs = figures["sides"]
        return mine, theirs

    def with_neighbour(self, lives: list[Live], index: int) -> None:
        """``NEIGHBOUR_SCENARIO`` again with a busy loop pinned to the load generator's CPU."""
        rows, concurrency = NEIGHBOUR_SCENARIO
        busy = subprocess.Popen(pinned(CLIENT_CPU, [sys.executable, "-c", NEIGHBOUR]))
        try:
            time.sleep(0.2)
            for live in lives if index % 2 == 0 else lives[::-1]:
                live.run.neighbour = self.scenario(live, rows, concurrency, note="with a busy neighbour")
        finally:
            busy.kill()
            busy.wait()
        by_name = {live.run.name: live.run for live in lives}
        ratios = neighbour_ratios(by_name.get("mlseam"), by_name.get("minimal"))
        if ratios is not None:
            print(f"  neighbour: mlseam/minimal {ratios[0]:.2f}x quiet, {ratios[1]:.2f}x busy", file=sys.stderr)

    def profiles(self, lives: list[Live]) -> list[Profile]:
        """mlseam (as it ships, or ``--profile-server``) during each of ``PROFILED_SCENARIOS`` again, sampled by
        py-spy."""
        live = next((live for live in lives if live.run.name == self.args.profile_server), None)
        if live is None:
            return []
        return [self.profile(live, rows, concurrency) for rows, concurrency in PROFILED_SCENARIOS]

    def profile(self, live: Live, rows: int, concurrency: int) -> Profile:
        """One scenario again, sampled by py-spy from the load generator's CPU."""
        if not profile_breakdown.available():
            return Profile(Scenario(rows, concurrency, {}), {}, 0, "py-spy is not installed", server=live.run.name)
        out = self.tmp / f"mlseam-profile-{rows}x{concurrency}.txt"
        # Sampled over the warm-up too: the same load, and py-spy needs a moment to attach.
        spy = profile_breakdown.record(live.proc.pid, self.warmup + self.duration, out, cpu=CLIENT_CPU)
        scenario = self.scenario(live, rows, concurrency, note="sampled by py-spy")
        _, stderr = spy.communicate(timeout=self.duration + CHILD_SLACK_S)
        if spy.returncode != 0 or not out.exists():
            note = f"py-spy exited {spy.returncode}: {stderr.decode(errors='replace').strip()[-300:]}"
            return Profile(scenario, {}, 0, note, server=live.run.name)
        collapsed = out.read_text()
        if self.args.keep_profiles:
            Path(self.args.keep_profiles).mkdir(parents=True, exist_ok=True)
            (Path(self.args.keep_profiles) / out.name).write_text(collapsed)
        shares, samples = profile_breakdown.breakdown(collapsed)
        hottest = profile_breakdown.hottest(collapsed)
        return Profile(scenario, shares, samples, hottest=hottest, server=live.run.name)

    def finish(self, live: Live, rounds: list[dict[str, ServerRun]]) -> None:
        """RSS after everything, then stop the server."""
        rss_end = rss_bytes(live.proc.pid)
        for runs in rounds:
            runs[live.run.name].rss_end = rss_end
        live.proc.stop_noting()

    def cleanup(self) -> None:
        harness.stop_everything(self.procs, self.stack, self.tmp)


# --- report ----------------------------------------------------------------------------------------------------


def _machine() -> str:
    pin = "taskset" if shutil.which("taskset") else "NOT pinned (no taskset)"
    return harness.describe_machine(
        f"servers and in-process on CPU {SERVER_CPU}, load generator on CPU {CLIENT_CPU} ({pin})"
    )


def _mlseam_settings() -> str:
    from mlseam.settings import Settings

    fields = Settings.model_fields
    names = (
        "coalesce",
        "coalesce_max_rows",
        "coalesce_max_wait_ms",
        "inline_predict_ms",
        "max_items",
        "poll_interval_s",
        "prediction_log",
        "prediction_log_buffer",
        "prediction_log_flush_ms",
    )
    defaults = " ".join(f"MLSEAM_{n.upper()}={fields[n].default}" for n in names)
    return (
        f"mlseam settings: {defaults} (defaults), MLSEAM_LOG_LEVEL=INFO (default: the access log on), "
        "MLSEAM_ENVIRONMENT=local (so auth off and MLSEAM_PREDICTION_LOG_SHARE=1: every prediction logged), "
        "uvloop + httptools, one process"
    )


# --- main ------------------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    runner = Bench(args)
    servers = [(name, title) for name, title in SERVERS if not args.only or name in args.only]

    def measure() -> tuple[dict[str, Any], list[dict[str, ServerRun]], list[Profile]]:
        print(f"setup: {runner.setup()}", flush=True)
        print(_machine())
        print(_mlseam_settings())
        print(
            f"scenarios: {runner.warmup:g} s warm-up (discarded) + {runner.duration:g} s measured each, "
            f"{args.runs} round(s); raw asyncio HTTP/1.1 keep-alive client, one connection per concurrent request",
            flush=True,
        )
        inproc = runner.run_inprocess()
        inproc["load_only_s"] = runner.load_only()
        # The servers are started one after the other (so none slows another's start), then the scenarios
        # alternate between them (ABBA order): a slow patch of the machine hits them all alike.
        lives = [runner.start_live(name, title) for name, title in servers]
        for live in lives:
            runner.warm(live)
        rounds = [runner.round(lives, index) for index in range(args.runs)]
        profiles = runner.profiles(lives) if not args.no_profile else []
        for live in lives:
            runner.finish(live, rounds)
        return inproc, rounds, profiles

    measured, code = harness.run_guarded(measure, runner.cleanup)
    if measured is None:
        return code
    inproc, rounds, profiles = measured
    print_inprocess(inproc, SERVER_CPU)
    for index, runs in enumerate(rounds, start=1):
        print()
        print(f"=== round {index} of {len(rounds)} ===")
        for run in runs.values():
            print_server(run)
        print_comparison(runs, inproc)
        print_log_costs(runs)
        print_shadow_cost(runs, inproc)
        if index == len(rounds):
            for profile in profiles:
                print_profile(profile)
        print_aims(runs)
    print()
    print(
        "(srv/cli cpu: the server's and the load generator's CPU time per second measured, 100% = one CPU; us/req: "
        "the server's CPU microseconds per request, the least disturbed figure on a busy machine; "
        "others: every other process on the machine, the busy neighbour included when there is one)"
    )
    print(harness.describe_totals(started))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per scenario (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 s per scenario")
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _ in SERVERS],
        help="measure this server (repeatable; default: every one)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[f"{rows}x{concurrency}" for rows, concurrency in SCENARIOS],
        help="only this ROWSxCONCURRENCY scenario (repeatable; default: every one; aims need them all)",
    )
    parser.add_argument("--runs", type=int, default=2, help="rounds of every scenario on the same servers (default 2)")
    parser.add_argument(
        "--mlseam-env",
        action="append",
        metavar="MLSEAM_X=VALUE",
        help="a setting every mlseam server gets on top of its defaults (repeatable): to compare settings",
    )
    parser.add_argument("--no-neighbour", action="store_true", help="skip the scenario with a busy neighbour")
    parser.add_argument("--no-profile", action="store_true", help="skip the sampled profile of mlseam")
    parser.add_argument("--keep-profiles", metavar="DIR", help="also write the profiles' collapsed stacks there")
    parser.add_argument(
        "--profile-server",
        default="mlseam",
        choices=[name for name, _ in SERVERS if name.startswith("mlseam")],
        help="the mlseam server sampled by py-spy (default: mlseam as it ships)",
    )
    # Child modes (the script runs itself pinned to a CPU).
    parser.add_argument("--role", choices=("loadgen", "paired", "inprocess"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=float, default=WARMUP_S, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--services-dir", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=INPROCESS_SECONDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "loadgen":
        return loadgen(args)
    if args.role == "paired":
        return paired_load.main(args.spec)
    if args.role == "inprocess":
        return inprocess(args)
    if args.duration <= 0 or args.duration > 120:
        parser.error("--duration must be in (0, 120] seconds")
    if not 1 <= args.runs <= 10:
        parser.error("--runs must be 1 to 10")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
