"""The predict path: body to outputs through the coalescer, and a raw-ASGI route for it.

``POST /<service>/v1/predict`` is the hot path. FastAPI's mount, routing and dependency
machinery cost more per request than a coalesced model call, so ``FastPredict`` answers
it directly, with the same token check and the same error answers as every other route; the
FastAPI route (same ``run_predict``) stays for docs and any other caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pydantic
from starlette.types import ASGIApp, Receive, Scope, Send

from mlseam.errors import InvalidInputError, MlseamError, ModelOutputError
from mlseam.predictionlog import PredictionBatch
from mlseam.runtime import Arrival, UnusableOutput
from mlseam.serving.deps import check_token
from mlseam.serving.problems import (
    REQUEST_ID,
    HttpError,
    in_list,
    invalid_input_from,
    problem_for,
    problem_headers,
    render_problem,
)
from mlseam.serving.served import ServedService

log = logging.getLogger("mlseam.serving")


@dataclass(frozen=True, slots=True)
class Answered:
    """A predict answer, and what the challenger in shadow gets once it went (None: nothing)."""

    payload: bytes
    shadow_of: str | None = None
    """The champion's first prediction id, when this request is shadowed."""
    count: int = 0
    request_id: str | None = None


async def run_predict(
    runtime: ServedService, body: bytes, arrival: Arrival | None = None, pinned: str | None = None
) -> bytes:
    """The JSON answer to a predict body, or the error saying what to fix (``answer_predict``'s payload)."""
    return (await answer_predict(runtime, body, arrival, pinned)).payload


async def answer_predict(
    runtime: ServedService, body: bytes, arrival: Arrival | None = None, pinned: str | None = None
) -> Answered:
    """The answer to a predict body; a sampled request is logged, and a shadowed one is logged too.

    ``pinned`` (the ``X-Model-Version`` header) names a former champion to answer instead; unless
    it is the champion being served, it is run in its own call, outside the coalescer (and never shadowed).
    """
    started = time.perf_counter()
    inputs = _fast_inputs(runtime, body)
    if inputs is None:
        inputs = _checked_inputs(runtime, body)
    pinned = runtime.pinned.name_of(pinned) if pinned else None
    current = runtime.slot.current
    own_call = pinned is not None and (current is None or current.version != pinned)
    try:
        if own_call and pinned is not None:
            predicted, version = await asyncio.to_thread(runtime.pinned.predict, inputs, pinned)
        else:
            predicted, version = await runtime.coalescer.submit(inputs, arrival)
    except MlseamError:
        raise
    except Exception as exc:
        log.exception("model failed on a batch", extra={"service": runtime.service.name})
        raise ModelOutputError(f"{runtime.service.name}'s model raised {type(exc).__name__}") from exc
    outputs = [output for _, output in predicted]
    for index, output in enumerate(outputs):
        if isinstance(output, UnusableOutput):
            message = (
                f"inputs[{index}]: the model gave no finite prediction ({output.value}) for this input; "
                "its values are probably far outside the range the model was trained on"
            )
            raise HttpError(422, "unpredictable_input", message, index=index, field=f"inputs[{index}]")
    answer = orjson.dumps({"outputs": outputs, "model_version": version})
    # A shadowed request is always logged: its challenger's row is compared with this one.
    shadowed = bool(predicted) and not own_call and runtime.shadow is not None and runtime.shadow.sampled()
    return _logged(runtime, Answered(answer), predicted, version, body, started, shadowed=shadowed)


def _logged(
    runtime: ServedService,
    answered: Answered,
    predicted: list[Any],
    version: str,
    body: bytes,
    started: float,
    *,
    shadowed: bool,
) -> Answered:
    """Log a sampled (or shadowed) answer; the answer, with what its challenger needs when shadowed."""
    recorder, answer = runtime.recorder, answered.payload
    if recorder is None or not predicted or not (shadowed or recorder.sampled()):
        return answered
    named = REQUEST_ID.get()
    request_id = None if named == "-" else named
    # The body and the answer as they are: the log renders nothing on the request path.
    recorder.record(
        PredictionBatch(
            service=runtime.service.name,
            version=version,
            request_id=request_id,
            logged_at=datetime.now(UTC),
            first_id=predicted[0][0],
            count=len(predicted),
            request=body,
            answer=answer,
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
    )
    if not shadowed:
        return answered
    return Answered(answer, shadow_of=predicted[0][0], count=len(predicted), request_id=request_id)


def hand_to_shadow(runtime: ServedService, answered: Answered, body: bytes) -> None:
    """Give a shadowed request to the challenger, once its answer has been sent."""
    if answered.shadow_of is not None and runtime.shadow is not None:
        runtime.shadow.offer(body, request_id=answered.request_id, shadow_of=answered.shadow_of, count=answered.count)


def _fast_inputs(runtime: ServedService, body: bytes) -> list[Any] | None:
    """The inputs of a well-formed body, checked as whole arrays; None sends it the item-by-item way."""
    return runtime.service.kind.fast_body(body, runtime.settings.max_items)


def _checked_inputs(runtime: ServedService, body: bytes) -> list[Any]:
    """The inputs validated item by item, or InvalidInputError naming the item and field to fix."""
    try:
        parsed = runtime.schemas.predict_request.validate_json(body)
    except pydantic.ValidationError as exc:
        raise invalid_input_from(exc, "inputs") from None
    try:
        return [runtime.service.kind.coerce_input(value, index=i) for i, value in enumerate(parsed.inputs)]
    except InvalidInputError as exc:
        raise in_list(exc, "inputs", item="input") from None


class FastPredict:
    """Answers ``POST /<service>/v1/predict`` without FastAPI; passes everything else on."""

    def __init__(self, app: ASGIApp, *, runtimes: dict[str, ServedService], token: str | None) -> None:
        self.app = app
        self.paths = {f"/{name}/v1/predict": runtime for name, runtime in runtimes.items()}
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.paths.get(scope["path"]) if scope["type"] == "http" else None
        if runtime is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # Counted from now: a batch about to run waits briefly for this body instead of leaving it behind.
        arrival = runtime.coalescer.arrival()
        try:
            body = await _read_body(receive)
            if body is None:
                return  # the client went away before sending its body
            check_token(self.token, _header(scope, b"authorization"))
            answered = await answer_predict(runtime, body, arrival, _header(scope, b"x-model-version") or None)
            payload, status, headers = answered.payload, 200, _json_headers(answered.payload)
        except (HttpError, MlseamError) as exc:
            problem = problem_for(exc)
            payload = render_problem(problem)
            status, headers, answered = problem.status, problem_headers(problem, payload), None
        finally:
            arrival.close()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        if answered is not None and body is not None:
            hand_to_shadow(runtime, answered, body)


def _json_headers(payload: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
