"""The challenger's process: loads one version and answers the requests its API hands it, one at a time.

Run as ``python -m mlseam.runtime.shadow.child`` by ``ShadowRunner``: the first frame on stdin
names the settings, service and version; it answers ``("ready", seconds)`` or ``("failed", reason)``,
then one ``("done", job, outcome, latency_ms, first_id, answer)`` per ``(job, body)`` it reads.
Its niceness is raised, so the kernel gives the champion's process the CPU first.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

import orjson

from mlseam.manifest import Service, load_service
from mlseam.predictionlog import new_prediction_ids
from mlseam.runtime.loading import LoadedModel, load_version
from mlseam.runtime.outputs import UnusableOutput, predict_outputs
from mlseam.runtime.shadow.frames import read_frame, write_frame
from mlseam.settings import Settings
from mlseam.stores import build_stores

log = logging.getLogger("mlseam.shadow")

NICENESS = 10
"""Added to the challenger's niceness: under CPU contention the champion's process runs first."""


def parse_inputs(service: Service, body: bytes, max_items: int) -> list[Any]:
    """The inputs of a predict body the champion already accepted, as the model takes them."""
    inputs = service.kind.fast_body(body, max_items)
    if inputs is not None:
        return inputs
    values = orjson.loads(body)["inputs"]
    return [service.kind.validate_input(value, index=index) for index, value in enumerate(values)]


def answer_job(service: Service, loaded: LoadedModel, body: bytes, max_items: int) -> tuple[Any, ...]:
    """``(outcome, latency_ms, first_id, answer)`` for one request body; a model that raises is an ``error``."""
    started = time.perf_counter()
    try:
        inputs = parse_inputs(service, body, max_items)
        ids = new_prediction_ids(len(inputs))
        outputs = predict_outputs(service, loaded.model, inputs, ids)
        # An output without a finite prediction is logged as none, as a batch item's is.
        usable = [None if isinstance(output, UnusableOutput) else output for output in outputs]
        answer = orjson.dumps({"outputs": usable, "model_version": loaded.version})
    except Exception as exc:  # noqa: BLE001 - a failing challenger is counted, never raised into the API
        latency_ms = (time.perf_counter() - started) * 1000.0
        return "error", latency_ms, None, f"{type(exc).__name__}: {exc}"
    return "ok", (time.perf_counter() - started) * 1000.0, ids[0] if ids else None, answer


def serve_jobs(source: IO[bytes], sink: IO[bytes]) -> int:
    """Load the version the first frame names, then answer jobs until stdin closes or says stop."""
    settings, name, version = read_frame(source)
    assert isinstance(settings, Settings)  # noqa: S101 - written by ShadowRunner
    started = time.perf_counter()
    try:
        service = load_service(name, settings.services_dir)
        stores = build_stores(settings)
        loaded = load_version(service, version, registry=stores.registry, artifacts=stores.artifacts)
    except Exception as exc:  # noqa: BLE001 - reported to the API, which keeps serving without a challenger
        write_frame(sink, ("failed", f"{type(exc).__name__}: {exc}"))
        return 1
    write_frame(sink, ("ready", time.perf_counter() - started))
    while True:
        try:
            job = read_frame(source)
        except EOFError:
            return 0
        if job is None:
            return 0
        job_id, body = job
        write_frame(sink, ("done", job_id, *answer_job(service, loaded, body, settings.max_items)))


def main() -> int:
    """Entry point: frames on the binary stdin and stdout; anything printed goes to stderr."""
    os.nice(NICENESS)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a print from model code must not corrupt the frames
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return serve_jobs(source, sink)


if __name__ == "__main__":
    sys.exit(main())
