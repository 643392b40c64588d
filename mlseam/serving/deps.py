"""What route handlers depend on, as named ``Annotated`` aliases: the served service, its batch store, the token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from mlseam.batchstore import BatchStore
from mlseam.errors import StoreError
from mlseam.serving.problems import UnauthorizedError
from mlseam.serving.served import ServedService


def check_token(token: str | None, authorization: str) -> None:
    """UnauthorizedError unless ``authorization`` is ``Bearer <token>``; no check when token is None.

    The scheme is matched case-insensitively (RFC 7235): ``bearer``, ``BEARER`` and ``Bearer`` all work.
    """
    if token is None:
        return
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(credentials.strip(" ").encode(), token.encode()):
        raise UnauthorizedError


def served_service(request: Request) -> ServedService:
    """The service of the app the request reached (each service's app holds its own)."""
    served: ServedService = request.app.state.served
    return served


async def require_token(request: Request) -> None:
    """Refuses the request unless it carries the API's bearer token (when auth is on)."""
    check_token(request.app.state.token, request.headers.get("authorization", ""))


def batch_store(served: Annotated[ServedService, Depends(served_service)]) -> BatchStore:
    """The service's batch store; an API running without one answers 503."""
    if served.batches is None:
        raise StoreError("this API runs without a batch store; batches are off")
    return served.batches


Served = Annotated[ServedService, Depends(served_service)]
Batches = Annotated[BatchStore, Depends(batch_store)]
IdempotencyKey = Annotated[str | None, Header(description="makes a retry return the same batch")]
AUTHORISED = [Depends(require_token)]
"""A router's ``dependencies``: every route of it wants the bearer token when auth is on."""
