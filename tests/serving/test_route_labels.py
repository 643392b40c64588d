"""Metrics label each request with its route as the app declares it, so a new route is counted as itself."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from mlseam.serving.middleware import RequestContext
from mlseam.serving.route_labels import RouteLabels


def _count(service: str, route: str, status: str) -> float:
    labels = {"service": service, "route": route, "status": status}
    return REGISTRY.get_sample_value("mlseam_http_requests_total", labels) or 0.0


def _get(app: RequestContext, *paths: str) -> list[int]:
    async def get_all() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [(await client.get(path)).status_code for path in paths]

    return asyncio.run(get_all())


def _root_with_a_service(service: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/brand-new")
    async def brand_new() -> dict[str, str]:
        return {"new": "yes"}

    things = APIRouter(prefix="/v1/things")

    @things.get("/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing": thing_id}

    app.include_router(things)

    root = FastAPI()
    root.mount(f"/{service}", app)
    return root


def test_a_route_added_to_a_service_app_is_counted_under_its_own_label() -> None:
    # given: a service app with a route no list of known routes has ever heard of
    root = _root_with_a_service("labelled")
    app = RequestContext(root, routes=root, max_body_bytes=1024)
    before = _count("labelled", "/v1/brand-new", "200")
    # when
    assert _get(app, "/labelled/v1/brand-new") == [200]
    # then
    assert _count("labelled", "/v1/brand-new", "200") == before + 1


def test_a_templated_route_is_one_label_whatever_its_parameters() -> None:
    root = _root_with_a_service("templated")
    app = RequestContext(root, routes=root, max_body_bytes=1024)
    assert _get(app, *(f"/templated/v1/things/{thing}" for thing in "abc")) == [200, 200, 200]
    assert _count("templated", "/v1/things/{thing_id}", "200") == 3


def test_unknown_paths_share_one_bounded_label() -> None:
    labels = RouteLabels(_root_with_a_service("bounded"))
    assert labels.of("/bounded/v1/nothing-here") == ("-", "unmatched")
    assert labels.of("/nowhere/v1/brand-new") == ("-", "unmatched")
    assert labels.of("/bounded/v1/things/a/b") == ("-", "unmatched")
    assert labels.of("/bounded/v1/brand-new") == ("bounded", "/v1/brand-new")
