"""``POST /v1/examples``: labelled examples stored for the next retrain."""

from __future__ import annotations

import asyncio
import functools

import orjson
import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlseam.errors import InvalidInputError
from mlseam.examples import LabelledExample
from mlseam.serving.deps import AUTHORISED, Served
from mlseam.serving.problems import REQUEST_ID, error_responses, in_list, invalid_input_from
from mlseam.serving.schemas import ExamplesStored, ServiceSchemas, body_of


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
        rows = [LabelledExample(input=e.input, label=e.label, external_id=e.external_id) for e in parsed.examples]
        service, request_id = served.service, REQUEST_ID.get()
        add = functools.partial(served.examples.add, source="api", request_id=request_id)
        try:
            stored = await asyncio.to_thread(add, service.name, service.kind, rows)
        except InvalidInputError as exc:
            raise in_list(exc, "examples") from None
        body = orjson.dumps({"received": len(rows), "stored": stored.new, "corrected": stored.corrected})
        return Response(body, status_code=201, media_type="application/json")

    return router
