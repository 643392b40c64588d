"""``POST /v1/examples``: labelled examples stored for the next retrain."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlseam.errors import InvalidInputError
from mlseam.examples import LabelledExample
from mlseam.predictionlog import LoggedPrediction
from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.problems import REQUEST_ID, HttpError, error_responses, in_list, invalid_input_from
from mlseam.serving.schemas import ExamplesStored, ServiceSchemas, body_of
from mlseam.serving.served import ServedService


def examples_router(schemas: ServiceSchemas) -> APIRouter:
    """The examples route, typed with the service's own input and label types."""
    router = APIRouter(prefix="/v1", tags=["examples"], dependencies=AUTHORISED)

    @router.post(
        "/examples",
        status_code=201,
        response_model=ExamplesStored,
        responses=error_responses(401, 413, 422, 503),
        openapi_extra={"requestBody": {"required": True, "content": body_of(schemas.examples_request_model)}},
        summary=(
            "Store labelled examples for the next retrain "
            "(external_id makes re-sending harmless; sent with another label, it corrects the label)"
        ),
    )
    async def add_examples(request: Request, served: Served) -> Response:
        try:
            parsed = served.schemas.examples_request.validate_json(await request.body())
        except pydantic.ValidationError as exc:
            raise invalid_input_from(exc, "examples") from None
        items = list(parsed.examples)
        logged = await asyncio.to_thread(logged_inputs, served, items)
        rows, positions, errors = joined_examples(items, logged, served.settings.prediction_log_retention_days)
        if errors and not rows:
            first = errors[0]
            raise InvalidInputError(first["message"], index=first["index"], field=first["field"])
        service, request_id = served.service, REQUEST_ID.get()
        add = functools.partial(served.examples.add, source="api", request_id=request_id)
        try:
            stored = await asyncio.to_thread(add, service.name, service.kind, rows)
        except InvalidInputError as exc:
            if exc.index is not None:
                exc = InvalidInputError(str(exc), index=positions[exc.index], field=exc.field)
            raise in_list(exc, "examples") from None
        answer: dict[str, Any] = {"received": len(items), "stored": stored.new, "corrected": stored.corrected}
        if errors:
            answer["errors"] = errors
        return Response(orjson.dumps(answer), status_code=201, media_type="application/json")

    return router


def logged_inputs(served: ServedService, items: list[Any]) -> dict[str, LoggedPrediction]:
    """The log's entries for the items that label a prediction by its id."""
    wanted = [item.prediction_id for item in items if getattr(item, "prediction_id", None) is not None]
    if not wanted:
        return {}
    if served.predictions is None:
        raise HttpError(
            422,
            "invalid_input",
            "examples: this API logs no predictions (MLSEAM_PREDICTION_LOG=false), so a prediction_id cannot be "
            "labelled; send the input with its label",
        )
    found: dict[str, LoggedPrediction] = served.predictions.lookup(served.service.name, wanted)
    return found


def joined_examples(
    items: list[Any], logged: dict[str, LoggedPrediction], retention_days: int
) -> tuple[list[LabelledExample], list[int], list[dict[str, Any]]]:
    """(the examples to store, each one's index in the request, the items that could not be joined)."""
    rows: list[LabelledExample] = []
    positions: list[int] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if getattr(item, "prediction_id", None) is None:
            rows.append(LabelledExample(input=item.input, label=item.label, external_id=item.external_id))
        elif item.prediction_id in logged:
            entry = logged[item.prediction_id]
            # Keyed by the prediction: sending its label again is harmless, another label corrects it.
            key = f"prediction:{item.prediction_id}"
            rows.append(LabelledExample(entry.input, item.label, external_id=key, prediction_id=item.prediction_id))
        else:
            message = (
                f"examples[{index}].prediction_id: {item.prediction_id} is not in the prediction log: unknown, older "
                f"than its {retention_days} days of retention, or not logged (MLSEAM_PREDICTION_LOG_SHARE); "
                "send its input with the label instead"
            )
            errors.append({"index": index, "field": f"examples[{index}].prediction_id", "message": message})
            continue
        positions.append(index)
    return rows, positions, errors
