"""``GET /healthz``, ``/livez`` and ``/readyz``: open to the load balancer, no token."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from mlseam.runtime import ModelSlot, SlotState
from mlseam.serving.deps import Served
from mlseam.serving.schemas import Readiness

router = APIRouter(tags=["health"])

# Up and doing what it should: serving, or waiting for a first champion that does not exist yet.
# A champion that exists but cannot be loaded is not: a deployment of such tasks must roll back.
_LIVE_STATES = frozenset({SlotState.READY, SlotState.NO_MODEL})


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/livez",
    response_model=Readiness,
    responses={
        503: {"model": Readiness, "description": "starting, or its champion could not be loaded; the reason says why"}
    },
    summary="Serving, or waiting for a first champion (the load balancer's check)",
)
async def livez(served: Served) -> Response:
    slot = served.slot
    return _answer(slot, live=slot.readiness in _LIVE_STATES)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "no model loaded yet; the reason says why"}},
    summary="A model is loaded",
)
async def readyz(served: Served) -> Response:
    slot = served.slot
    return _answer(slot, live=slot.current is not None)


def _answer(slot: ModelSlot, *, live: bool) -> Response:
    loaded = slot.current
    body = {"status": slot.readiness.value, "model_version": loaded.version if loaded else None}
    if slot.readiness is not SlotState.READY:
        body["reason"] = slot.reason or None
    return Response(orjson.dumps(body), status_code=200 if live else 503, media_type="application/json")
