"""The FastAPI apps: one per service under ``/<service>``, mounted together on one root app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pydantic
from botocore.exceptions import BotoCoreError, ClientError
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlseam.batches import answers as batch_api
from mlseam.batches.submit import submit_batch
from mlseam.batchstore import BatchStore
from mlseam.errors import (
    BatchNotFoundError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    MlseamError,
    NoModelError,
    StoreError,
    TooManyItemsError,
)
from mlseam.examples import LabelledExample
from mlseam.manifest import load_service
from mlseam.runtime import SlotState
from mlseam.serving.middleware import REQUEST_ID, BodyTooLargeError, RequestContext, error_body
from mlseam.serving.predict import FastPredict, check_token, run_predict
from mlseam.serving.problems import ApiError, from_validation
from mlseam.serving.schemas import ErrorResponse, ExamplesStored, ModelInfo, Readiness, model_summary
from mlseam.serving.served import ServedService
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores

log = logging.getLogger("mlseam.serving")


def _json(status: int, body: bytes) -> Response:
    return Response(content=body, status_code=status, media_type="application/json")


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as JSON with a message and the request id; never a stack trace."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101 - registered for ApiError only
        return _json(exc.status, error_body(exc.status, exc.code, exc.message, index=exc.index, field=exc.field))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        return await api_error(request, from_validation(exc, ""))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /<service>/docs for the API"
            return _json(404, error_body(404, "not_found", message))
        if exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            return _json(405, error_body(405, "method_not_allowed", message))
        return _json(exc.status_code, error_body(exc.status_code, "http_error", str(exc.detail)))

    async def too_large(request: Request, exc: Exception) -> Response:
        return _json(413, error_body(413, "too_large", str(exc)))

    async def unexpected(request: Request, exc: Exception) -> Response:
        message = f"internal error; quote request id {REQUEST_ID.get()} when reporting it"
        return _json(500, error_body(500, "internal", message))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(BodyTooLargeError, too_large)
    app.add_exception_handler(Exception, unexpected)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        401: "missing or wrong bearer token",
        413: "too many items or too large a body",
        422: "an input is invalid: the message names the item index and the field",
        500: "the model failed on this batch",
        503: "no model loaded yet, or a store is unreachable",
    }.items()
}


def _body_ref(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _item_error(list_field: str, exc: InvalidInputError) -> ApiError:
    field = f"{list_field}[{exc.index}].{exc.field}"
    message = str(exc).removeprefix(f"{exc.field}: ") if exc.field else str(exc)
    return ApiError(422, "invalid_input", f"{field}: {message}", index=exc.index, field=field)


def _auth_dependency(token: str) -> Any:
    async def require_token(request: Request) -> None:
        check_token(token, request.headers.get("authorization", ""))

    return require_token


def create_service_app(runtime: ServedService, *, token: str | None) -> FastAPI:
    """The API of one service; mounted at ``/<service>`` (its docs live there too)."""
    service, schemas, slot = runtime.service, runtime.schemas, runtime.slot
    app = FastAPI(
        title=f"mlseam {service.name}",
        description=service.manifest.description,
        version=service.manifest.task,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    install_error_handlers(app)
    # Health, readiness, metrics and docs stay open for the load balancer and scrapers.
    authorised = [Depends(_auth_dependency(token))] if token is not None else []
    json_body = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schemas.predict_request_model.__name__}"}}
    }
    examples_body = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schemas.examples_request_model.__name__}"}}
    }

    @app.post(
        "/v1/predict",
        dependencies=authorised,
        response_model=schemas.predict_response_model,
        responses=ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": json_body}},
        summary=f"Predict with the {service.name} champion, outputs in input order",
    )
    async def predict(request: Request) -> Response:
        return _json(200, await run_predict(runtime, await request.body()))

    @app.post(
        "/v1/examples",
        dependencies=authorised,
        status_code=201,
        response_model=ExamplesStored,
        responses=ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": examples_body}},
        summary="Store labelled examples for the next retrain (external_id makes re-sending harmless)",
    )
    async def add_examples(request: Request) -> Response:
        try:
            parsed = schemas.examples_request.validate_json(await request.body())
        except pydantic.ValidationError as exc:
            raise from_validation(exc, "examples") from None
        rows = [LabelledExample(input=e.input, label=e.label, external_id=e.external_id) for e in parsed.examples]
        try:
            stored = await asyncio.to_thread(runtime.examples.add, service.name, service.task, rows, source="api")
        except InvalidInputError as exc:
            raise ApiError(
                422, "invalid_input", f"examples[{exc.index}].{exc}", index=exc.index, field=exc.field
            ) from None
        except StoreError as exc:
            raise ApiError(503, "store_unavailable", f"examples could not be stored, retry later: {exc}") from None
        return _json(201, orjson.dumps({"received": len(rows), "stored": stored}))

    @app.get(
        "/v1/model",
        dependencies=authorised,
        response_model=ModelInfo,
        responses=ERRORS,
        summary="The champion being served",
    )
    async def model() -> Response:
        loaded = slot.current
        if loaded is None:
            raise ApiError(503, "no_model", f"{service.name} has no model loaded: {slot.reason or slot.readiness}")
        return _json(200, orjson.dumps(model_summary(loaded)))

    @app.post(
        "/v1/batches",
        dependencies=authorised,
        status_code=202,
        responses=ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": json_body}},
        summary="Submit many inputs at once; poll the status URL for the results",
    )
    async def submit(request: Request, idempotency_key: str | None = Header(default=None)) -> Response:
        store = _batch_store(runtime)
        body = await request.body()
        with _batch_infrastructure():
            batch, _ = await asyncio.to_thread(
                submit_batch,
                service,
                body,
                idempotency_key=idempotency_key,
                store=store,
                registry=runtime.registry,
                settings=runtime.settings,
            )
        prefix = f"/{service.name}"
        body = orjson.dumps(batch_api.summary(batch, prefix=prefix))
        return Response(
            body,
            status_code=202,
            media_type="application/json",
            headers={"location": f"{prefix}/v1/batches/{batch.batch_id}"},
        )

    @app.get(
        "/v1/batches/{batch_id}",
        dependencies=authorised,
        responses=ERRORS,
        summary="A batch's status and progress; once finished, a page of results in input order",
    )
    async def batch_status(
        batch_id: str,
        offset: int = Query(default=0, ge=0, description="first result to return"),
        limit: int = Query(default=1000, ge=1, le=10_000, description="most results to return"),
    ) -> Response:
        store = _batch_store(runtime)

        def answer() -> bytes:
            batch = batch_api.find(store, service.name, batch_id)
            return batch_api.status_body(
                store,
                batch,
                prefix=f"/{service.name}",
                offset=offset,
                limit=limit,
                url_ttl_s=runtime.settings.batch_result_url_ttl_s,
            )

        with _batch_infrastructure():
            return _json(200, await asyncio.to_thread(answer))

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="A model is loaded")
    async def readyz() -> Response:
        loaded = slot.current
        body = {"status": slot.readiness.value, "model_version": loaded.version if loaded else None}
        if slot.readiness is not SlotState.READY:
            body["reason"] = slot.reason or None
        return _json(200 if loaded is not None else 503, orjson.dumps(body))

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    _document_bodies(app, schemas.predict_request_model, schemas.examples_request_model)
    return app


@contextlib.contextmanager
def _batch_infrastructure() -> Iterator[None]:
    """SQS, S3 or DynamoDB failing is a 503 the client may retry, never a 500."""
    try:
        yield
    except InvalidInputError as exc:  # the batch code's domain errors, until problems.py maps them all
        status, code = (413, "too_many_items") if isinstance(exc, TooManyItemsError) else (422, "invalid_input")
        raise ApiError(status, code, str(exc), index=exc.index, field=exc.field) from None
    except (BatchNotFoundError, ConflictError, NoModelError) as exc:
        status, code = (404, "unknown_batch") if isinstance(exc, BatchNotFoundError) else (409, "conflict")
        status, code = (503, "no_model") if isinstance(exc, NoModelError) else (status, code)
        raise ApiError(status, code, str(exc)) from None
    except (StoreError, BotoCoreError, ClientError) as exc:
        log.warning("batch store unavailable: %s", exc)
        raise ApiError(503, "batches_unavailable", f"batches are unavailable, retry later: {exc}") from None


def _batch_store(runtime: ServedService) -> BatchStore:
    if runtime.batches is None:
        raise ApiError(503, "batches_unavailable", "this API runs without a batch store; batches are off")
    return runtime.batches


def _document_bodies(app: FastAPI, *models: type[pydantic.BaseModel]) -> None:
    """Put the raw-body request models into the OpenAPI components the routes refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                body = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[model.__name__] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def freeze_heap() -> None:
    """Move everything alive now (libraries, the loaded models) out of the cyclic GC's reach.

    Otherwise each full collection walks a few hundred thousand long-lived objects, pausing
    every request in flight for a few hundred milliseconds under load. Frozen objects are
    still freed by reference counting once nothing refers to them (an old model included).
    Turns the collector on, in case start-up ran without it (``mlseam serve`` does).
    """
    gc.collect()
    gc.freeze()
    gc.enable()


def resolve_token(settings: Settings) -> str | None:
    """The bearer token APIs require, from the environment or Secrets Manager; None when off."""
    if not settings.auth_required:
        return None
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    if settings.api_token_secret_id:
        from mlseam.aws import aws_client

        secret = aws_client(settings, "secretsmanager").get_secret_value(SecretId=settings.api_token_secret_id)
        return str(secret["SecretString"]).strip()
    raise ConfigError(
        "API auth is on: set MLSEAM_API_TOKEN or MLSEAM_API_TOKEN_SECRET_ID (or MLSEAM_AUTH_REQUIRED=false)"
    )


def create_app(settings: Settings, names: list[str], *, stores: Stores | None = None) -> RequestContext:
    """The ASGI app serving ``names`` under ``/<service>``: what uvicorn runs.

    Outermost, ``RequestContext`` (request id, metrics, access log, body limit) and
    ``FastPredict`` (the predict hot path) sit outside FastAPI's own middleware stack; every
    other request goes on to the FastAPI root app and the per-service apps.
    """
    stores = stores or build_stores(settings)
    token = resolve_token(settings)
    runtimes = [ServedService(load_service(name, settings.services_dir), stores, settings) for name in names]
    if not runtimes:
        raise MlseamError(f"no services to serve in {settings.services_dir}")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.gather(*(runtime.start() for runtime in runtimes))
        freeze_heap()
        yield
        await asyncio.gather(*(runtime.stop() for runtime in runtimes))

    root = FastAPI(title="mlseam", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(root)
    for runtime in runtimes:
        root.mount(f"/{runtime.service.name}", create_service_app(runtime, token=token))
    root.state.runtimes = {runtime.service.name: runtime for runtime in runtimes}
    fast = FastPredict(root, runtimes={r.service.name: r for r in runtimes}, token=token)
    return RequestContext(
        fast, max_body_bytes=settings.max_body_bytes, batch_max_body_bytes=settings.batch_max_body_bytes
    )
