"""``GET /v1/model``: the champion being served."""

from __future__ import annotations

import asyncio
import logging

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from mlseam.errors import MlseamError
from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.problems import error_responses
from mlseam.serving.schemas import ModelInfo, model_summary

log = logging.getLogger("mlseam.serving")

router = APIRouter(prefix="/v1", tags=["model"], dependencies=AUTHORISED)


@router.get(
    "/model", response_model=ModelInfo, responses=error_responses(401, 503), summary="The champion being served"
)
async def get_model(served: Served) -> Response:
    loaded = served.loaded()
    summary = model_summary(loaded)
    # What the monitor measured is written after the model was loaded: read it fresh.
    try:
        current = await asyncio.to_thread(served.registry.get_version, served.service.name, loaded.record.version)
    except MlseamError:
        log.warning("could not read %s's monitoring from the registry", served.service.name, exc_info=True)
    else:
        summary["live"], summary["drift"] = current.live, current.drift
    return Response(orjson.dumps(summary), media_type="application/json")
