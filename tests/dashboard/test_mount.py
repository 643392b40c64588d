"""The dashboard at / beside the APIs on one app, as `make run` serves them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from builders import linear_service
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.dashboard import Reader, create_dashboard_app
from mlseam.examples import InMemoryExamplesStore
from mlseam.registry import InMemoryRegistry
from mlseam.serving import create_app
from mlseam.settings import Settings
from mlseam.stores import Stores


def test_the_dashboard_mounted_at_the_root_leaves_every_service_path_to_its_api(services_dir: Path) -> None:
    # given
    name = linear_service(services_dir)
    settings = Settings(services_dir=services_dir)
    stores = Stores(examples=InMemoryExamplesStore(), registry=InMemoryRegistry(), artifacts=InMemoryArtifactStore())
    dashboard = create_dashboard_app(Reader(settings, stores))
    app = create_app(settings, [name], stores=stores, mounts={"/": dashboard})

    # when
    async def get(*paths: str) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stack") as client:
            return [await client.get(path) for path in paths]

    overview, service_page, health, unknown = asyncio.run(
        get("/", f"/services/{name}", f"/{name}/healthz", f"/{name}/v1/nowhere")
    )

    # then
    assert overview.status_code == 200 and f'data-service="{name}"' in overview.text
    assert service_page.status_code == 200
    assert health.status_code == 200 and health.headers["content-type"].startswith("application/json")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"]  # the API's own error shape
