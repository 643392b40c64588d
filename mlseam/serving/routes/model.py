"""``GET /v1/model``: the champion being served."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.problems import error_responses
from mlseam.serving.schemas import ModelInfo, model_summary

router = APIRouter(prefix="/v1", tags=["model"], dependencies=AUTHORISED)


@router.get(
    "/model", response_model=ModelInfo, responses=error_responses(401, 503), summary="The champion being served"
)
async def get_model(served: Served) -> Response:
    return Response(orjson.dumps(model_summary(served.loaded())), media_type="application/json")
