"""The predict path: body to outputs through the batcher, and a raw-ASGI route for it.

``POST /<service>/v1/predict`` is the hot path. FastAPI's mount, routing and dependency
machinery cost more per request than a micro-batched model call, so ``FastPredict`` answers
it directly; the FastAPI route (same ``run_predict``) stays for docs and any other caller.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson
import pydantic
from starlette.types import ASGIApp, Receive, Scope, Send

from mlseam.errors import InvalidInputError, NoModelError
from mlseam.runtime import Arrival, UnusableOutput
from mlseam.serving.middleware import REQUEST_ID, error_body
from mlseam.serving.problems import ApiError, from_validation
from mlseam.serving.served import ServedService

log = logging.getLogger("mlseam.serving")


def check_token(token: str | None, authorization: str) -> None:
    """ApiError 401 unless ``authorization`` is ``Bearer <token>`` (no check when token is None)."""
    if token is None:
        return
    if not (authorization.startswith("Bearer ") and hmac.compare_digest(authorization[7:].encode(), token.encode())):
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` with the service's API token")


async def run_predict(runtime: ServedService, body: bytes, arrival: Arrival | None = None) -> bytes:
    """The JSON answer to a predict body, or ApiError saying what to fix."""
    service = runtime.service
    inputs = _fast_inputs(runtime, body)
    if inputs is None:
        inputs = _checked_inputs(runtime, body)
    try:
        outputs, version = await runtime.coalescer.submit(inputs, arrival)
    except NoModelError as exc:
        raise ApiError(503, "no_model", f"{service.name} has no model loaded: {exc}") from None
    except Exception:
        log.exception("model failed on a batch", extra={"service": service.name})
        message = f"the model failed on this request's batch; quote request id {REQUEST_ID.get()} when reporting it"
        raise ApiError(500, "model_error", message) from None
    for index, output in enumerate(outputs):
        if isinstance(output, UnusableOutput):
            message = (
                f"inputs[{index}]: the model gave no finite prediction ({output.value}) for this input; "
                "its values are probably far outside the range the model was trained on"
            )
            raise ApiError(422, "unpredictable_input", message, index=index, field=f"inputs[{index}]")
    return orjson.dumps({"outputs": outputs, "model_version": version})


def _fast_inputs(runtime: ServedService, body: bytes) -> list[Any] | None:
    """The inputs of a well-formed body, checked as whole arrays; None sends it the item-by-item way."""
    return runtime.service.task.fast_body(body, runtime.settings.max_items)


def _checked_inputs(runtime: ServedService, body: bytes) -> list[Any]:
    """The inputs validated item by item, or ApiError naming the item and field to fix."""
    try:
        parsed = runtime.schemas.predict_request.validate_json(body)
    except pydantic.ValidationError as exc:
        raise from_validation(exc, "inputs") from None
    try:
        return [runtime.service.task.coerce_input(value, index=i) for i, value in enumerate(parsed.inputs)]
    except InvalidInputError as exc:
        field = f"inputs[{exc.index}]" + (exc.field or "").removeprefix("input")
        message = str(exc).split(": ", 1)[-1]
        raise ApiError(422, "invalid_input", f"{field}: {message}", index=exc.index, field=field) from None


class FastPredict:
    """Answers ``POST /<service>/v1/predict`` without FastAPI; passes everything else on."""

    def __init__(self, app: ASGIApp, *, runtimes: dict[str, ServedService], token: str | None) -> None:
        self.app = app
        self.routes = {f"/{name}/v1/predict": runtime for name, runtime in runtimes.items()}
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.routes.get(scope["path"]) if scope["type"] == "http" else None
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
            status, payload = 200, await run_predict(runtime, body, arrival)
        except ApiError as exc:
            status = exc.status
            payload = error_body(exc.status, exc.code, exc.message, index=exc.index, field=exc.field)
        finally:
            arrival.close()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


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
