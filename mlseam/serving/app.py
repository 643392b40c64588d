"""The FastAPI apps: one per service under ``/<service>``, mounted together on one root app."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pydantic
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp

from mlseam.errors import ConfigError
from mlseam.manifest import load_service
from mlseam.runtime import build_recorder
from mlseam.serving.handlers import install_error_handlers
from mlseam.serving.middleware import RequestContext
from mlseam.serving.predict import FastPredict
from mlseam.serving.routes import health, metrics, model
from mlseam.serving.routes.batches import batches_router
from mlseam.serving.routes.examples import examples_router
from mlseam.serving.routes.predict import predict_router
from mlseam.serving.served import ServedService
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores


def create_service_app(served: ServedService, *, token: str | None) -> FastAPI:
    """The API of one service; mounted at ``/<service>`` (its docs live there too)."""
    service, schemas = served.service, served.schemas
    app = FastAPI(
        title=f"mlseam {service.name}",
        description=service.manifest.description,
        version=service.manifest.task,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.served, app.state.token = served, token
    install_error_handlers(app)
    app.include_router(predict_router(schemas))
    app.include_router(examples_router(schemas))
    app.include_router(batches_router(schemas, max_items=served.settings.batch_max_items))
    app.include_router(model.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    _document_bodies(app, schemas.predict_request_model, schemas.examples_request_model)
    return app


def _document_bodies(app: FastAPI, *models: type[pydantic.BaseModel]) -> None:
    """Put the raw-body request models into the OpenAPI components the routes refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for body_model in models:
                body = body_model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(body.pop("$defs", {}))
                components[body_model.__name__] = body
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


def create_app(
    settings: Settings, names: list[str], *, stores: Stores | None = None, mounts: Mapping[str, ASGIApp] | None = None
) -> RequestContext:
    """The ASGI app serving ``names`` under ``/<service>``: what uvicorn runs.

    Outermost, ``RequestContext`` (request id, metrics, access log, body limit) and
    ``FastPredict`` (the predict hot path) sit outside FastAPI's own middleware stack; every
    other request goes on to the FastAPI root app and the per-service apps. ``mounts`` adds
    other apps after the services (the local stack's dashboard at ``/``).
    """
    stores = stores or build_stores(settings)
    token = resolve_token(settings)
    recorder = build_recorder(settings, stores.predictions)
    served = {
        name: ServedService(load_service(name, settings.services_dir), stores, settings, recorder) for name in names
    }
    if not served:
        raise ConfigError(f"no services to serve in {settings.services_dir}; add services/<name>/service.yaml")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.gather(*(service.start() for service in served.values()))
        if recorder is not None:
            recorder.start()
        freeze_heap()
        yield
        await asyncio.gather(*(service.stop() for service in served.values()))
        if recorder is not None:
            await asyncio.to_thread(recorder.stop)

    root = FastAPI(title="mlseam", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(root)
    for name, service in served.items():
        root.mount(f"/{name}", create_service_app(service, token=token))
    for path, mounted in (mounts or {}).items():
        root.mount(path, mounted)
    fast = FastPredict(root, runtimes=served, token=token)
    return RequestContext(
        fast, routes=root, max_body_bytes=settings.max_body_bytes, batch_max_body_bytes=settings.batch_max_body_bytes
    )
