"""``POST /v1/predict``: as documented and as FastAPI serves it; ``FastPredict`` answers the same route faster."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.predict import run_predict
from mlseam.serving.problems import error_responses
from mlseam.serving.schemas import ServiceSchemas, body_of

PinnedVersion = Annotated[
    str | None,
    Header(
        description=(
            "answer with this former champion (e.g. v3) instead of the current one, to reproduce an earlier "
            "answer; model_version says which answered. 404: no such version; 409: it never served as champion "
            "or has no artifact. Pinned requests skip coalescing (one predict call each)"
        ),
        examples=["v3"],
    ),
]


def predict_router(schemas: ServiceSchemas) -> APIRouter:
    """The predict route, typed with the service's own input and output models."""
    router = APIRouter(prefix="/v1", tags=["predict"], dependencies=AUTHORISED)

    @router.post(
        "/predict",
        response_model=schemas.predict_response_model,
        responses=error_responses(401, 404, 409, 413, 422, 500, 503),
        openapi_extra={"requestBody": {"required": True, "content": body_of(schemas.predict_request_model)}},
        summary="Predict with the champion, outputs in input order",
    )
    async def predict(request: Request, served: Served, x_model_version: PinnedVersion = None) -> Response:
        body = await request.body()
        return Response(await run_predict(served, body, pinned=x_model_version), media_type="application/json")

    return router
