"""Pure-ASGI middleware: request ids, JSON access logs, metrics, and the request body limit."""

from __future__ import annotations

import logging
import os
import time

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlseam.serving.access_log import LOGGER_NAME, installed_access_log
from mlseam.serving.metrics import HTTP_METRICS
from mlseam.serving.problems import REQUEST_ID, BodyTooLargeError, Problem, problem_for, problem_headers, render_problem
from mlseam.serving.route_labels import RouteLabels

log = logging.getLogger(LOGGER_NAME)

DISCARD_AT_MOST = 128 * 1024 * 1024
"""How much of a body past the limit is read and thrown away so that its sender, still sending
and not yet reading (urllib, requests), gets the 413 rather than a reset; past it, the connection closes."""

_QUIET_ROUTES = ("/healthz", "/livez", "/readyz", "/metrics")


class RequestContext:
    """Gives each request an id (``X-Request-ID`` or a new one), echoes it, times and counts it
    under its route's label, and answers 413 to a body larger than ``max_body_bytes``.

    ``routes`` is the app whose mounted service apps declare the routes the metrics label.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Starlette,
        max_body_bytes: int,
        batch_max_body_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.batch_max_body_bytes = batch_max_body_bytes or max_body_bytes
        self.labels = RouteLabels(routes)
        # Decided once: the log level is set before the app is built, and the access log is on at INFO.
        self.access = installed_access_log() if log.isEnabledFor(logging.INFO) else None

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
            await _refuse_declared_length(headers, receive, limit)
            await self.app(scope, _limited(receive, limit), send_with_id)
        except BodyTooLargeError as exc:
            if started_response:
                raise
            await _send_problem(send_with_id, problem_for(exc))
        except Exception:
            # Whatever escaped the app: logged with its request id, answered without a trace.
            log.exception("unhandled error", extra={"path": scope["path"]})
            if started_response:
                raise
            await _send_problem(send_with_id, problem_for(RuntimeError()))
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, request_id: str, status: int, elapsed: float) -> None:
        service, route = self.labels.of(scope["path"])
        HTTP_METRICS.observe(service, route, status, elapsed)
        if route in _QUIET_ROUTES:
            return
        ms = round(elapsed * 1000, 2)
        if self.access is not None:
            self.access.request(request_id, scope["method"], scope["path"], status, ms, service)
        else:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "ms": ms,
                    "service": service,
                },
            )


async def _refuse_declared_length(headers: dict[bytes, bytes], receive: Receive, limit: int) -> None:
    """BodyTooLargeError for a declared ``Content-Length`` over ``limit``, its body read and dropped first.

    A client waiting on ``Expect: 100-continue`` has sent nothing yet and is told at once;
    so is one declaring more than can sensibly be thrown away.
    """
    length = headers.get(b"content-length")
    if length is None or not length.isdigit() or int(length) <= limit:
        return
    if headers.get(b"expect", b"").lower() == b"100-continue" or int(length) > limit + DISCARD_AT_MOST:
        raise BodyTooLargeError(limit, close=True)
    await _discard(receive, int(length))
    raise BodyTooLargeError(limit)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising BodyTooLargeError once the body passes ``limit`` (after dropping the rest)."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                drained = not message.get("more_body", False) or await _discard(receive, DISCARD_AT_MOST)
                raise BodyTooLargeError(limit, close=not drained)
        return message

    return limited


async def _discard(receive: Receive, at_most: int) -> bool:
    """Read and drop the rest of a body, never holding more than one chunk; False if it ran past ``at_most``."""
    dropped = 0
    while dropped <= at_most:
        message = await receive()
        if message["type"] != "http.request":
            return False
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


async def _send_problem(send: Send, problem: Problem) -> None:
    body = render_problem(problem)
    await send({"type": "http.response.start", "status": problem.status, "headers": problem_headers(problem, body)})
    await send({"type": "http.response.body", "body": body})
