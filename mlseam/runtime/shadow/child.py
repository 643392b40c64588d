"""The challenger's process: loads one version and answers what its API hands it, one call at a time.

Run as ``python -m mlseam.runtime.shadow.child`` by ``ShadowRunner``: the first frame on stdin
names the settings, service and version; it answers ``("ready", seconds)`` or ``("failed", reason)``,
then, for each list of ``(job, body)`` it reads, ``("done", [(outcome, latency_ms, first_id, answer), ...])``.
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


def answer_jobs(service: Service, loaded: LoadedModel, bodies: list[bytes], max_items: int) -> list[tuple[Any, ...]]:
    """``(outcome, latency_ms, first_id, answer)`` per request body, all predicted in one call.

    When that call raises, each body is predicted alone, so that one bad request does not fail
    the others (it is an ``error``, as is a body that does not parse).
    """
    started = time.perf_counter()
    parsed: list[list[Any] | str] = []
    for body in bodies:
        try:
            parsed.append(parse_inputs(service, body, max_items))
        except Exception as exc:  # noqa: BLE001 - the champion accepted it; say why this one could not
            parsed.append(f"{type(exc).__name__}: {exc}")
    inputs = [item for items in parsed if isinstance(items, list) for item in items]
    try:
        ids = new_prediction_ids(len(inputs))
        outputs = predict_outputs(service, loaded.model, inputs, ids)
    except Exception as exc:  # noqa: BLE001 - a failing challenger is counted, never raised into the API
        if len(bodies) > 1:
            return [answer for body in bodies for answer in answer_jobs(service, loaded, [body], max_items)]
        return [("error", _since(started), None, f"{type(exc).__name__}: {exc}")]
    latency_ms, at = _since(started), 0
    answers: list[tuple[Any, ...]] = []
    for items in parsed:
        if isinstance(items, str):
            answers.append(("error", latency_ms, None, items))
            continue
        # An output without a finite prediction is logged as none, as a batch item's is.
        mine = [None if isinstance(o, UnusableOutput) else o for o in outputs[at : at + len(items)]]
        answer = orjson.dumps({"outputs": mine, "model_version": loaded.version})
        answers.append(("ok", latency_ms, ids[at] if items else None, answer))
        at += len(items)
    return answers


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


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
        bodies = [body for _, body in job]
        write_frame(sink, ("done", answer_jobs(service, loaded, bodies, settings.max_items)))


def main() -> int:
    """Entry point: frames on the binary stdin and stdout; anything printed goes to stderr."""
    os.nice(NICENESS)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a print from model code must not corrupt the frames
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return serve_jobs(source, sink)


if __name__ == "__main__":
    sys.exit(main())
