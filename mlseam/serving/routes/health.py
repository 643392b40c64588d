"""``GET /healthz`` and ``/readyz``: open to the load balancer, no token."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from mlseam.runtime import SlotState
from mlseam.serving.deps import Served
from mlseam.serving.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "no model loaded yet; the reason says why"}},
    summary="A model is loaded",
)
async def readyz(served: Served) -> Response:
    slot = served.slot
    loaded = slot.current
    body = {"status": slot.readiness.value, "model_version": loaded.version if loaded else None}
    if slot.readiness is not SlotState.READY:
        body["reason"] = slot.reason or None
    return Response(orjson.dumps(body), status_code=200 if loaded is not None else 503, media_type="application/json")
