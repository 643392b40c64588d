"""``GET /v1/model``: the champion being served, the version pending approval and the challenger in shadow."""

from __future__ import annotations

import asyncio
import logging

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from mlseam.errors import MlseamError
from mlseam.registry import latest_pending
from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.problems import error_responses
from mlseam.serving.schemas import ModelInfo, model_summary, pending_summary

log = logging.getLogger("mlseam.serving")

router = APIRouter(prefix="/v1", tags=["model"], dependencies=AUTHORISED)


@router.get(
    "/model", response_model=ModelInfo, responses=error_responses(401, 503), summary="The champion being served"
)
async def get_model(served: Served) -> Response:
    loaded = served.loaded()
    summary = model_summary(loaded)
    # What the monitor measured is written after the model was loaded, and a version may be
    # pending since: read both fresh.
    try:
        versions = await asyncio.to_thread(served.registry.list_versions, served.service.name)
    except MlseamError:
        log.warning("could not read %s's versions from the registry", served.service.name, exc_info=True)
    else:
        current = next((record for record in versions if record.version == loaded.version), loaded.record)
        summary["live"], summary["drift"] = current.live, current.drift
        pending = latest_pending(versions)
        summary["pending"] = pending_summary(pending) if pending is not None else None
    shadow = served.shadow
    challenger = shadow.loaded_version if shadow is not None else None
    summary["challenger"] = None
    if shadow is not None and challenger is not None:
        summary["challenger"] = {"version": challenger, "share": shadow.options.share}
    return Response(orjson.dumps(summary), media_type="application/json")
