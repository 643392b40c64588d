"""``GET /metrics``: Prometheus text; wants the token when auth is on (the load balancer never forwards it)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlseam.serving.deps import AUTHORISED
from mlseam.serving.problems import error_responses

router = APIRouter(tags=["metrics"], dependencies=AUTHORISED)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}, **error_responses(401)},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
