"""``POST /v1/batches`` and ``GET /v1/batches/{batch_id}``: many inputs at once, predicted by the batch worker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Annotated

import orjson
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from mlseam.batches import answers
from mlseam.batches.submit import submit_batch
from mlseam.errors import StoreError
from mlseam.serving.deps import AUTHORISED, Batches, IdempotencyKey, Served
from mlseam.serving.problems import error_responses
from mlseam.serving.schemas import BatchReport, BatchSummary, ServiceSchemas, body_of

_GET_BATCH = "get_batch"
_FOLLOW_BATCH = {
    "GetBatch": {
        "operationId": _GET_BATCH,
        "parameters": {"batch_id": "$response.body#/batch_id"},
        "description": "the batch just accepted: poll it until it has finished",
    }
}


Limit = Annotated[int, Query(ge=1, le=10_000, description="most results to return")]


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """SQS, S3 or DynamoDB failing is a store error, which the client may retry (503)."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise StoreError(f"batches are unavailable: {exc}") from exc


def batches_router(schemas: ServiceSchemas, *, max_items: int) -> APIRouter:
    """The batch routes; ``max_items`` (the most items in one batch) bounds a results page's ``offset``."""
    router = APIRouter(prefix="/v1/batches", tags=["batches"], dependencies=AUTHORISED)
    # A default, not an Annotated alias: the bound is this service's, and FastAPI reads aliases from module globals.
    first_result = Query(default=0, ge=0, le=max_items, description="first result to return")

    @router.post(
        "",
        status_code=202,
        response_model=BatchSummary,
        responses={
            202: {"description": "accepted: poll its status_url", "links": _FOLLOW_BATCH},
            **error_responses(401, 409, 413, 422, 503),
        },
        openapi_extra={"requestBody": {"required": True, "content": body_of(schemas.predict_request_model)}},
        summary="Submit many inputs at once; poll the status URL for the results",
    )
    async def submit(
        request: Request, served: Served, store: Batches, idempotency_key: IdempotencyKey = None
    ) -> Response:
        body = await request.body()
        with _store_errors():
            batch, _ = await asyncio.to_thread(
                submit_batch,
                served.service,
                body,
                idempotency_key=idempotency_key,
                store=store,
                registry=served.registry,
                settings=served.settings,
            )
        summary = answers.summary(batch, prefix=f"/{served.service.name}")
        headers = {"location": summary["status_url"]}
        return Response(orjson.dumps(summary), status_code=202, media_type="application/json", headers=headers)

    @router.get(
        "/{batch_id}",
        operation_id=_GET_BATCH,
        response_model=BatchReport,
        responses=error_responses(401, 404, 422, 503),
        summary="A batch's status and progress; once finished, a page of results in input order",
    )
    async def get_batch(
        batch_id: str, served: Served, store: Batches, offset: int = first_result, limit: Limit = 1000
    ) -> Response:
        name = served.service.name

        def answer() -> bytes:
            batch = answers.find(store, name, batch_id)
            ttl = served.settings.batch_result_url_ttl_s
            return answers.status_body(store, batch, prefix=f"/{name}", offset=offset, limit=limit, url_ttl_s=ttl)

        with _store_errors():
            return Response(await asyncio.to_thread(answer), media_type="application/json")

    return router
