"""Benchmark: queue-style batches (``POST /digits/v1/batches`` + ``mlseam worker digits``) vs a sequential floor.

Everything is measured in one run on this machine:

* ``end-to-end``: one batch of ``--items`` digits images submitted to ``mlseam serve digits`` and processed
  by one ``mlseam worker digits`` process, chunks of ``--chunk`` items (``MLSEAM_BATCH_CHUNK_ITEMS``). The
  clock runs from sending the ``POST`` to the first ``GET /digits/v1/batches/<id>`` (polled every 50 ms,
  ``limit=1`` so a poll stays small) that answers ``succeeded``. The batch's own ``timings_ms`` split it:
  ``validate``, ``upload`` and ``queue`` are the API's totals inside the ``POST``; ``read``, ``predict`` and
  ``write`` are summed over the chunks by the worker; ``finalise`` is the worker writing the one result
  file. What the stages leave of the wall time is printed as "rest": HTTP and body parsing in the ``POST``;
  SQS receives and deletes, DynamoDB reads and counts, building the result lines and the polling
  granularity after it. The result file (``result_url``) is then downloaded and checked: one line per item,
  in index order, no errors, the same labels as the floor.
* ``floor``: the least work the same job needs, done by this process alone, one chunk after another: read
  each chunk input file the API wrote (S3 ``GET``, JSON decode, ``task.fast_inputs`` exactly as the worker
  does), predict it with the same champion (``predict_outputs``, loaded beforehand with ``load_version``: not
  counted), encode the results as JSON lines (the worker's line format) and write them back to S3 under
  ``floor/<service>/<batch id>/``. No queue, no state, no finalise, no HTTP API.

Setup (not measured): a local stack (real PostgreSQL and the AWS emulator on free ports, in a temp dir), the
digits demo data seeded and one retrain, the batch table, bucket and queues, then both processes started with
the stack's location, ``MLSEAM_BATCH_CHUNK_ITEMS``, ``MLSEAM_BATCH_MAX_ITEMS`` (at least ``--items``),
``MLSEAM_WORKER_WAIT_S=1`` and ``MLSEAM_LOG_LEVEL=WARNING``, defaults otherwise. Before the measured batch,
the worker is waited for until it is idle on its queue, and one warm-up batch of one chunk goes through the
API and the worker (discarded): the worker loads the model lazily on its first chunk, as the floor does
before its clock starts. The API and the worker are stopped once the end-to-end run is checked, so the floor
runs on a quiet machine. The AWS emulator (moto) runs as threads of this process, so S3, SQS and DynamoDB
cost this process's CPU in both measurements. It also applies one request at a time (SQS long polls aside,
which wait without holding the others up), which AWS does not.

The project's aim is printed with a verdict (met/missed): end-to-end items/s within 2x of the floor's. The
script only measures and prints and exits 0 once it has printed (1 when the setup or the run itself failed,
130 when interrupted).

Usage: ``.venv/bin/python bench/batches.py [--items N] [--chunk N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness

SERVICE = "digits"
POLL_S = 0.05
IDLE_WINDOW_S = 0.5
IDLE_CPU_S = 0.05
"""The worker counts as idle once it used less than this CPU time over one ``IDLE_WINDOW_S``."""
POST_TIMEOUT_S = 600.0
FINISH_SLACK_S = 120.0
FINISH_S_PER_ITEM = 0.01
"""The batch must finish within ``FINISH_SLACK_S + items * FINISH_S_PER_ITEM`` seconds of its POST."""
FLOOR_PREFIX = "floor"
WORKER_STAGES = ("read", "predict", "write")
API_STAGES = ("validate", "upload", "queue")
MIB = 1024 * 1024

AIM_FLOOR_RATIO = 2.0


# --- processes -------------------------------------------------------------------------------------------------


def own_cpu_s() -> float:
    """User + system CPU seconds of this process (the client and the AWS emulator's threads)."""
    times = os.times()
    return times.user + times.system


# --- figures ---------------------------------------------------------------------------------------------------


@dataclass
class EndToEnd:
    """One batch through the API and the worker."""

    items: int
    chunks: int
    batch_id: str
    model_version: str
    post_s: float
    after_post_s: float
    timings_ms: dict[str, int]
    created_at: str
    started_at: str | None
    finished_at: str | None
    body_bytes: int
    polls: int
    cpu_s: dict[str, float] = field(default_factory=dict)
    result_lines: int = 0
    in_order: bool = False
    errors: int = 0
    first_error: str = ""
    labels: list[str] = field(default_factory=list)
    result_bytes: int = 0

    @property
    def total_s(self) -> float:
        return self.post_s + self.after_post_s

    @property
    def items_s(self) -> float:
        return self.items / self.total_s


@dataclass
class Floor:
    """The sequential single-process floor over the same chunk files."""

    items: int
    chunks: int
    total_s: float
    stages_s: dict[str, float]
    load_s: float
    labels: list[str]

    @property
    def items_s(self) -> float:
        return self.items / self.total_s


# --- the benchmark ---------------------------------------------------------------------------------------------


def digits_body(items: int) -> bytes:
    """``{"inputs": [...]}`` of ``items`` digits images (8x8 nested lists of ints 0-16), cycling the data set.

    Each distinct image is encoded once and the pieces joined: the same bytes as ``orjson.dumps`` of the whole.
    """
    import orjson
    from sklearn.datasets import load_digits

    encoded = [orjson.dumps([[int(v) for v in row] for row in image.tolist()]) for image in load_digits().images]
    return b'{"inputs":[' + b",".join(encoded[i % len(encoded)] for i in range(items)) + b"]}"


class Bench:
    """The parent: owns the temp dir, the local stack and every process it starts."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.items: int = args.items
        self.chunk: int = args.chunk
        self.tmp = Path(tempfile.mkdtemp(prefix="mlseam-bench-batches-"))
        self.services_dir = harness.REPO_ROOT / "services"
        self.procs: list[harness.Proc] = []
        self.stack: Any = None
        self.settings: Any = None
        self.stores: Any = None
        self.api: harness.Proc | None = None
        self.worker: harness.Proc | None = None
        self.port = 0
        self.body = b""

    # setup ------------------------------------------------------------------------------------------------------

    def setup(self) -> str:
        from mlseam.local.ports import free_port
        from mlseam.settings import Settings
        from mlseam.stores import create_batch_resources

        started = time.perf_counter()
        defaults = Settings.model_fields
        self.settings, self.stack = harness.configure_stack(
            self.tmp,
            self.services_dir,
            batch_chunk_items=self.chunk,
            batch_max_items=max(self.items, int(defaults["batch_max_items"].default)),
            worker_wait_s=1,
        )
        self.stack.start()
        self.stores, champion = harness.seed_champion(self.settings, SERVICE)
        create_batch_resources(self.settings, [SERVICE])
        stack_s = time.perf_counter() - started

        built = time.perf_counter()
        self.body = digits_body(self.items)
        body_s = time.perf_counter() - built

        self.port = free_port()
        env = self.env()
        ready: dict[str, float] = {}
        for name, command in (("api", "serve"), ("worker", "worker")):
            argv = [sys.executable, "-m", "mlseam.cli", command, SERVICE]
            proc = harness.Proc(name, argv, env, self.tmp / f"{name}.log", harness.REPO_ROOT)
            self.procs.append(proc)
            if name == "api":
                self.api = proc
                ready[name] = harness.poll_readiness(proc, f"http://127.0.0.1:{self.port}/{SERVICE}/readyz")
            else:
                self.worker = proc
        worker_s = self.wait_worker_idle()
        return (
            f"local stack, seed and retrain in {stack_s:.1f} s (champion {champion.version}); "
            f"{self.items:,} images encoded in {body_s:.2f} s ({len(self.body) / MIB:.1f} MiB body); "
            f"API ready in {ready['api']:.2f} s, worker idle on its queue after {worker_s:.2f} s"
        )

    def wait_worker_idle(self) -> float:
        """Seconds until the worker uses (almost) no CPU: past its start-up, long-polling its queue."""
        assert self.worker is not None
        started = time.perf_counter()
        deadline = time.monotonic() + harness.READY_TIMEOUT_S
        before = self.worker.cpu_s()
        while time.monotonic() < deadline:
            time.sleep(IDLE_WINDOW_S)
            if self.worker.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.worker.process.returncode}:\n{self.worker.tail()}")
            after = self.worker.cpu_s()
            if after - before < IDLE_CPU_S:
                return time.perf_counter() - started
            before = after
        raise RuntimeError(f"the worker kept busy for {harness.READY_TIMEOUT_S:.0f} s:\n{self.worker.tail()}")

    def env(self) -> dict[str, str]:
        """The environment of both processes: the stack's location and the batch settings; defaults otherwise."""
        settings = self.settings
        body_limit = int(type(settings).model_fields["batch_max_body_bytes"].default)
        return harness.build_served_env(
            settings,
            self.services_dir,
            self.port,
            MLSEAM_BATCHES_TABLE=settings.batches_table,
            MLSEAM_BATCHES_BUCKET=settings.batches_bucket,
            MLSEAM_BATCHES_PREFIX=settings.batches_prefix,
            MLSEAM_QUEUE_PREFIX=settings.queue_prefix,
            MLSEAM_BATCH_CHUNK_ITEMS=str(self.chunk),
            MLSEAM_BATCH_MAX_ITEMS=str(settings.batch_max_items),
            MLSEAM_BATCH_MAX_BODY_BYTES=str(max(body_limit, len(self.body) + MIB)),
            MLSEAM_WORKER_WAIT_S="1",
        )

    # end to end -------------------------------------------------------------------------------------------------

    def submit_and_wait(self, client: Any, body: bytes, items: int) -> tuple[float, float, int, dict[str, Any]]:
        """POST ``body``, poll every 50 ms until it succeeds: (POST seconds, seconds after it, polls, last GET)."""
        assert self.worker is not None
        base = f"http://127.0.0.1:{self.port}/{SERVICE}"
        deadline_s = FINISH_SLACK_S + items * FINISH_S_PER_ITEM
        started = time.perf_counter()
        response = client.post(f"{base}/v1/batches", content=body, headers={"content-type": "application/json"})
        answered = time.perf_counter()
        if response.status_code != 202:
            raise RuntimeError(f"POST /v1/batches answered {response.status_code}: {response.text[:500]}")
        batch_id = str(response.json()["batch_id"])
        polls = 0
        while True:
            status = client.get(f"{base}/v1/batches/{batch_id}", params={"limit": 1})
            polls += 1
            if status.status_code != 200:
                raise RuntimeError(f"GET /v1/batches/{batch_id} answered {status.status_code}: {status.text[:500]}")
            answer: dict[str, Any] = status.json()
            if answer["status"] == "succeeded":
                return answered - started, time.perf_counter() - answered, polls, answer
            if answer["status"] == "failed":
                raise RuntimeError(f"batch {batch_id} failed: {answer.get('reason')} ({answer['progress']})")
            if time.perf_counter() - started > deadline_s:
                raise RuntimeError(f"batch {batch_id} did not finish in {deadline_s:.0f} s: {answer['progress']}")
            if self.worker.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.worker.process.returncode}:\n{self.worker.tail()}")
            time.sleep(POLL_S)

    def warm_up(self) -> str:
        """One small batch through the API and the worker (discarded): the worker has loaded the model after it."""
        import httpx

        items = min(self.chunk, self.items)
        with httpx.Client(timeout=POST_TIMEOUT_S) as client:
            post_s, after_s, _, _ = self.submit_and_wait(client, digits_body(items), items)
        self.wait_worker_idle()
        return f"warm-up batch of {items:,} items (discarded) in {post_s + after_s:.2f} s"

    def end_to_end(self) -> EndToEnd:
        """POST the batch, poll until it succeeds, then check its result file."""
        import httpx

        assert self.api is not None and self.worker is not None
        with httpx.Client(timeout=POST_TIMEOUT_S) as client:
            cpu_before = {"api": self.api.cpu_s(), "worker": self.worker.cpu_s(), "bench": own_cpu_s()}
            post_s, after_s, polls, answer = self.submit_and_wait(client, self.body, self.items)
            cpu_after = {"api": self.api.cpu_s(), "worker": self.worker.cpu_s(), "bench": own_cpu_s()}
            run = EndToEnd(
                items=self.items,
                chunks=-(-self.items // self.chunk),
                batch_id=str(answer["batch_id"]),
                model_version=str(answer["model_version"]),
                post_s=post_s,
                after_post_s=after_s,
                timings_ms={str(k): int(v) for k, v in answer["timings_ms"].items()},
                created_at=str(answer["created_at"]),
                started_at=answer.get("started_at"),
                finished_at=answer.get("finished_at"),
                body_bytes=len(self.body),
                polls=polls,
                cpu_s={name: cpu_after[name] - cpu_before[name] for name in cpu_before},
            )
            self.check_result(client, str(answer["result_url"]), run)
        return run

    def check_result(self, client: Any, url: str, run: EndToEnd) -> None:
        """Read the result file: its lines, their order, errors and labels."""
        import orjson

        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"result file answered {response.status_code}: {response.text[:300]}")
        lines = response.content.splitlines()
        run.result_bytes = len(response.content)
        run.result_lines = len(lines)
        in_order = True
        for position, line in enumerate(lines):
            result = orjson.loads(line)
            if result.get("index") != position:
                in_order = False
            if "error" in result:
                run.errors += 1
                run.first_error = run.first_error or f"item {result.get('index')}: {result['error']}"
                run.labels.append("")
            else:
                run.labels.append(str(result["output"]["label"]))
        run.in_order = in_order and run.result_lines == run.items

    def stop_processes(self) -> None:
        """Stop the API and the worker (the floor then runs on a quiet machine); note odd exits."""
        for proc in self.procs:
            proc.stop_noting()

    # floor ------------------------------------------------------------------------------------------------------

    def floor(self, batch_id: str, model_version: str) -> Floor:
        """One process, one chunk after another: read the API's chunk files, predict, write JSON lines."""
        import orjson

        from mlseam.aws import aws_client
        from mlseam.manifest import load_service
        from mlseam.runtime import UnusableOutput, load_version, predict_outputs

        settings = self.settings
        service = load_service(SERVICE, self.services_dir)
        kind = service.kind
        loading = time.perf_counter()
        loaded = load_version(service, model_version, registry=self.stores.registry, artifacts=self.stores.artifacts)
        load_s = time.perf_counter() - loading
        s3 = aws_client(settings, "s3")
        bucket = settings.batches_bucket
        prefix = f"{settings.batches_prefix.strip('/')}/{SERVICE}/{batch_id}/inputs"
        chunks = -(-self.items // self.chunk)
        stages = {"read": 0.0, "predict": 0.0, "encode": 0.0, "write": 0.0}
        labels: list[str] = []
        started = time.perf_counter()
        for chunk in range(chunks):
            first = chunk * self.chunk
            t0 = time.perf_counter()
            body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{chunk:06d}.json")["Body"].read()
            values = orjson.loads(body)["inputs"]
            inputs = kind.fast_inputs(values, body)
            if inputs is None:
                inputs = [kind.validate_input(value, index=first + i) for i, value in enumerate(values)]
            t1 = time.perf_counter()
            outputs = predict_outputs(service, loaded.model, inputs)
            t2 = time.perf_counter()
            lines = [orjson.dumps({"index": first + i, "output": output}) for i, output in enumerate(outputs)]
            data = b"\n".join([*lines, b""])
            t3 = time.perf_counter()
            s3.put_object(
                Bucket=bucket,
                Key=f"{FLOOR_PREFIX}/{SERVICE}/{batch_id}/{chunk:06d}.jsonl",
                Body=data,
                ContentType="application/x-ndjson",
            )
            t4 = time.perf_counter()
            stages["read"] += t1 - t0
            stages["predict"] += t2 - t1
            stages["encode"] += t3 - t2
            stages["write"] += t4 - t3
            # Outputs may be pre-written JSON (orjson.Fragment): read the labels back from the lines written.
            labels.extend(
                "" if isinstance(o, UnusableOutput) else str(orjson.loads(line)["output"]["label"])
                for o, line in zip(outputs, lines, strict=True)
            )
        total = time.perf_counter() - started
        return Floor(self.items, chunks, total, stages, load_s, labels)

    # cleanup ----------------------------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stop every process and the stack and remove the temp dir; a second Ctrl-C does not cut it short."""
        with harness.ignore_signals():
            harness.stop_everything(self.procs, self.stack, self.tmp)


# --- report ----------------------------------------------------------------------------------------------------


def _settings_line(args: argparse.Namespace) -> str:
    return (
        f"batch: {args.items:,} items in chunks of {args.chunk:,} (MLSEAM_BATCH_CHUNK_ITEMS), one API process "
        "(`mlseam serve digits`), one worker process (`mlseam worker digits`), MLSEAM_WORKER_WAIT_S=1, "
        "MLSEAM_LOG_LEVEL=WARNING, other settings at their defaults; AWS emulator (moto) in this process"
    )


def _share(ms: float, total_s: float) -> str:
    return f"{ms / 1000:.2f} s ({ms / 1000 / total_s:.0%})"


def print_end_to_end(run: EndToEnd, floor: Floor | None) -> None:
    t = run.timings_ms
    total = run.total_s
    api_ms = sum(t.get(stage, 0) for stage in API_STAGES)
    worker_ms = sum(t.get(stage, 0) for stage in WORKER_STAGES)
    finalise_ms = t.get("finalise", 0)
    print()
    print(
        f"end-to-end: {run.items:,} items ({run.chunks:,} chunks, {run.body_bytes / MIB:.1f} MiB body) in "
        f"{total:.2f} s = {run.items_s:,.0f} items/s (batch {run.batch_id}, model {run.model_version})"
    )
    print(
        f"  POST answered (202) in {run.post_s:.2f} s: validate {_share(t.get('validate', 0), total)}, "
        f"upload {_share(t.get('upload', 0), total)}, queue {_share(t.get('queue', 0), total)}; "
        f"rest (HTTP, body parsing, DynamoDB record) {_share(max(0.0, run.post_s * 1000 - api_ms), total)}"
    )
    print(
        f"  POST answer to succeeded: {run.after_post_s:.2f} s: worker read {_share(t.get('read', 0), total)}, "
        f"predict {_share(t.get('predict', 0), total)}, write {_share(t.get('write', 0), total)} (summed over "
        f"chunks); finalise {_share(finalise_ms, total)}; rest (SQS, DynamoDB, result lines, polling) "
        f"{_share(max(0.0, run.after_post_s * 1000 - worker_ms - finalise_ms), total)}"
    )
    other = {k: v for k, v in t.items() if k not in (*API_STAGES, *WORKER_STAGES, "finalise")}
    if other:
        print(f"  other timings_ms: {other}")
    print(
        f"  server timestamps: created {run.created_at}, first chunk counted {run.started_at}, "
        f"finished {run.finished_at}; {run.polls} polls"
    )
    print(
        f"  CPU during the run: API {run.cpu_s['api']:.2f} s, worker {run.cpu_s['worker']:.2f} s, this process "
        f"(client + AWS emulator) {run.cpu_s['bench']:.2f} s over {total:.2f} s wall"
    )
    agree = "not checked"
    if floor is not None:
        differ = sum(a != b for a, b in zip(run.labels, floor.labels, strict=False))
        differ += abs(len(run.labels) - len(floor.labels))
        agree = "yes" if differ == 0 else f"NO: {differ} differ"
    print(
        f"  result file: {run.result_lines:,} lines ({run.result_bytes / MIB:.1f} MiB), "
        f"{'in index order' if run.in_order else 'NOT one line per item in index order'}; errors {run.errors}"
        + (f" (first: {run.first_error})" if run.first_error else "")
        + f"; same labels as the floor: {agree}"
    )


def print_floor(floor: Floor) -> None:
    s = floor.stages_s
    print()
    print(
        f"floor (this process, sequential, the same {floor.chunks:,} chunk files and model): {floor.items:,} items "
        f"in {floor.total_s:.2f} s = {floor.items_s:,.0f} items/s"
    )
    print(
        f"  read (S3 GET, JSON, fast_inputs) {s['read']:.2f} s, predict {s['predict']:.2f} s, "
        f"encode (JSON lines) {s['encode']:.2f} s, write (S3 PUT) {s['write']:.2f} s; "
        f"model load beforehand {floor.load_s:.2f} s (not counted)"
    )


def print_aim(run: EndToEnd, floor: Floor) -> None:
    ratio = floor.items_s / run.items_s
    met = ratio <= AIM_FLOOR_RATIO and run.errors == 0 and run.in_order
    print()
    print("aim:")
    print(
        f"  end-to-end within {AIM_FLOOR_RATIO:g}x of the floor: {'met' if met else 'missed'} "
        f"({run.items_s:,.0f} items/s vs {floor.items_s:,.0f} items/s = {ratio:.2f}x the floor's time)"
    )
    print(f"  result errors: {run.errors}; result file complete and in order: {'yes' if run.in_order else 'NO'}")


# --- main ------------------------------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    runner = Bench(args)

    def measure() -> tuple[EndToEnd, Floor]:
        print(harness.describe_machine())
        print(_settings_line(args))
        print(f"setup: {runner.setup()}", flush=True)
        print(f"warm-up: {runner.warm_up()}", flush=True)
        print("running the batch end to end ...", file=sys.stderr, flush=True)
        run = runner.end_to_end()
        runner.stop_processes()
        print("running the floor ...", file=sys.stderr, flush=True)
        return run, runner.floor(run.batch_id, run.model_version)

    measured, code = harness.run_guarded(measure, runner.cleanup)
    if measured is None:
        return code
    run, floor = measured
    print_end_to_end(run, floor)
    print_floor(floor)
    print_aim(run, floor)
    print(harness.describe_totals(started))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=100_000, help="images in the batch (default 100000)")
    parser.add_argument("--chunk", type=int, default=1000, help="items per chunk (default 1000)")
    args = parser.parse_args(argv)
    if args.items < 1:
        parser.error("--items must be at least 1")
    if args.chunk < 1:
        parser.error("--chunk must be at least 1")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
