"""Pure-ASGI middleware: request ids, JSON access logs, metrics, and the request body limit."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlseam.serving.metrics import LATENCY, REQUESTS

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
log = logging.getLogger("mlseam.access")

_KNOWN_ROUTES = (
    "/v1/predict",
    "/v1/examples",
    "/v1/model",
    "/v1/batches",
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/openapi.json",
)


def route_of(path: str) -> tuple[str, str]:
    """(service, route) for a path: bounded label values, whatever clients send."""
    service, _, rest = path.lstrip("/").partition("/")
    rest = "/" + rest
    if rest in _KNOWN_ROUTES:
        return service, rest
    if rest.startswith("/v1/batches/"):
        return service, "/v1/batches/{id}"
    return "-", "unmatched"


@functools.lru_cache(maxsize=1024)
def _counter(service: str, route: str, status: int) -> Any:
    # Looking a labelled child up costs more than incrementing it; label values are bounded.
    return REQUESTS.labels(service, route, str(status))


@functools.lru_cache(maxsize=256)
def _latency(service: str, route: str) -> Any:
    return LATENCY.labels(service, route)


def error_body(status: int, code: str, message: str, **extra: Any) -> bytes:
    """The JSON every error answers with."""
    detail = {"code": code, "message": message, **{k: v for k, v in extra.items() if v is not None}}
    return json.dumps({"error": detail, "request_id": REQUEST_ID.get()}).encode()


class RequestContext:
    """Gives each request an id (``X-Request-ID`` or a new one), echoes it, times and counts it,
    and answers 413 before reading a body larger than ``max_body_bytes``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, batch_max_body_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.batch_max_body_bytes = batch_max_body_bytes or max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:200] or os.urandom(16).hex()
        token = REQUEST_ID.set(request_id)
        status = 500
        started_response = False
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        limit = self.batch_max_body_bytes if scope["path"].endswith("/v1/batches") else self.max_body_bytes
        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await self._too_large(send_with_id, limit)
                return
            await self.app(scope, self._limited(receive, limit), send_with_id)
        except BodyTooLargeError:
            await self._too_large(send_with_id, limit)
        except Exception:
            # Whatever escaped the app: logged with its request id, answered without a trace.
            log.exception("unhandled error", extra={"path": scope["path"]})
            if started_response:
                raise
            await self._send_json(send_with_id, 500, "internal", f"internal error; quote request id {request_id}")
        finally:
            elapsed = time.perf_counter() - started
            service, route = route_of(scope["path"])
            _counter(service, route, status).inc()
            _latency(service, route).observe(elapsed)
            if route not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round(elapsed * 1000, 2),
                        "service": service,
                    },
                )
            REQUEST_ID.reset(token)

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(f"request body exceeds {limit} bytes; send fewer items")
            return message

        return limited

    async def _too_large(self, send: Send, limit: int) -> None:
        await self._send_json(send, 413, "too_large", f"request body exceeds {limit} bytes; send fewer items")

    @staticmethod
    async def _send_json(send: Send, status: int, code: str, message: str) -> None:
        body = error_body(status, code, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    """A streamed request body went past the limit (the app answers 413)."""
