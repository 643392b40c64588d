"""The dashboard's pages on fake stores: what they show, escaping, the CSP and the token."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from builders import clone_service, linear_examples, linear_service
from dashboard_history import write_history
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.dashboard import Reader, create_dashboard_app
from mlseam.dashboard.app import CONTENT_SECURITY_POLICY
from mlseam.examples import InMemoryExamplesStore
from mlseam.manifest import load_service
from mlseam.registry import InMemoryRegistry
from mlseam.settings import Settings
from mlseam.stores import Stores

SCRIPT = "<script>alert('x')</script>"


def _stores() -> Stores:
    return Stores(examples=InMemoryExamplesStore(), registry=InMemoryRegistry(), artifacts=InMemoryArtifactStore())


class Client:
    """Requests straight into the ASGI app, one event loop each."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        async def get() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
                return await client.get(path, headers=headers)

        return asyncio.run(get())


def _client(services_dir: Path, stores: Stores, token: str | None = None) -> Client:
    reader = Reader(Settings(services_dir=services_dir), stores)
    return Client(create_dashboard_app(reader, token=token))


def _linear(services_dir: Path, stores: Stores, versions: int = 4, **history: str) -> str:
    name = linear_service(services_dir, owner="ana@example.org")
    service = load_service(name, services_dir)
    stores.examples.add(name, service.kind, linear_examples(30, seed=1), source="t")
    write_history(stores.registry, name, versions, **history)
    return name


def test_the_overview_shows_each_service_champion_metric_outcome_examples_and_owner(services_dir: Path) -> None:
    # given
    stores = _stores()
    name = _linear(services_dir, stores, versions=4)

    # when
    page = _client(services_dir, stores).get("/")

    # then
    assert page.status_code == 200
    row = page.text.split(f'data-service="{name}"', 1)[1].split("</tr>", 1)[0]
    assert ">v4<" in row  # every third version is promoted: v1, v4
    assert '<span class="holdout">0.2500</span>' in row and '<span class="live">0.2600</span>' in row
    assert "promoted: +0.0100 rmse: better by 0.2500" in row
    assert '<span class="examples">30</span>' in row
    assert "owner: ana@example.org" in row
    assert "README" in row  # a linear fixture service has no README


def test_a_service_that_fails_to_load_still_gets_its_row_with_the_reason(services_dir: Path) -> None:
    stores = _stores()
    good = _linear(services_dir, stores, versions=1)
    broken = services_dir / "broken-one"
    broken.mkdir()
    (broken / "service.yaml").write_text(yaml.safe_dump({"name": "broken-one", "task": "nope", "model": "m.py:M"}))

    page = _client(services_dir, stores).get("/")

    assert page.status_code == 200
    assert f'data-service="{good}"' in page.text
    row = page.text.split('data-service="broken-one"', 1)[1].split("</tr>", 1)[0]
    assert "cannot load" in row and "unknown task kind" in row


def test_a_script_in_a_reason_a_readme_or_an_owner_renders_as_text(services_dir: Path) -> None:
    # given: a reason, an actor, a param and an owner that carry markup, and a README with raw HTML
    stores = _stores()
    name = clone_service(services_dir, "digits")
    manifest = yaml.safe_load((services_dir / name / "service.yaml").read_text())
    (services_dir / name / "service.yaml").write_text(yaml.safe_dump({**manifest, "owner": SCRIPT}))
    (services_dir / name / "README.md").write_text(f"# card\n\n{SCRIPT}\n\n[x](javascript:alert(1))\n")
    write_history(stores.registry, name, 2, metric="macro_f1", reason=SCRIPT, actor=SCRIPT)
    client = _client(services_dir, stores)

    # when
    pages = [client.get("/").text, client.get(f"/services/{name}").text]

    # then: the only script elements are the page's own
    for html in pages:
        scripts = re.findall(r"<script[^>]*>", html)
        assert all("src=" in s or 'type="application/json"' in s for s in scripts), scripts
        assert "alert('x')</script>" not in html
        assert "&lt;script&gt;" in html
    assert 'href="javascript:' not in pages[1]  # the link is refused, left as text


def test_every_answer_forbids_inline_scripts_and_other_origins(services_dir: Path) -> None:
    stores = _stores()
    name = _linear(services_dir, stores, versions=2)
    client = _client(services_dir, stores)

    for path in ("/", f"/services/{name}", "/services/nowhere", "/static/dashboard.js", "/static/plotly.min.js"):
        answer = client.get(path)
        policy = answer.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", path  # no 'unsafe-inline', no host
        assert directives["default-src"] == "'none'"
        assert "http" not in policy
    assert policy == CONTENT_SECURITY_POLICY
    assert client.get("/services/nowhere").status_code == 404
    assert client.get("/static/plotly.min.js").text.startswith("/**")


def test_the_service_page_has_every_version_its_lineage_history_and_plot_data(services_dir: Path) -> None:
    stores = _stores()
    name = _linear(services_dir, stores, versions=7)

    page = _client(services_dir, stores).get(f"/services/{name}")

    assert page.status_code == 200
    assert page.text.count('<tr data-version="v') == 7
    assert "digest7" in page.text and "abc7" in page.text and "scikit-learn 1.8.0" in page.text
    versions = page.text.split('id="versions"', 1)[1].split("</table>", 1)[0]
    assert versions.count("promote by retrain job") == 3  # v1, v4, v7
    charts = page.text.split('id="chart-data">', 1)[1].split("</script>", 1)[0]
    assert '"x": ["v1", "v2", "v3", "v4", "v5", "v6", "v7"]' in charts


def test_the_dashboard_wants_the_token_as_a_bearer_or_basic_password_when_one_is_set(services_dir: Path) -> None:
    client = _client(services_dir, _stores(), token="s3cret")  # noqa: S106 - a test token
    basic = base64.b64encode(b"manager:s3cret").decode()

    assert client.get("/").status_code == 401
    assert client.get("/").headers["www-authenticate"].startswith("Basic")
    assert client.get("/", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/", headers={"authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/", headers={"authorization": f"Basic {basic}"}).status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("prefix", ["/dashboard", "/dashboard/"])
def test_behind_a_prefix_every_link_and_asset_carries_it(services_dir: Path, prefix: str) -> None:
    stores = _stores()
    name = _linear(services_dir, stores, versions=1)
    client = Client(create_dashboard_app(Reader(Settings(services_dir=services_dir), stores), prefix=prefix))

    page = client.get("/dashboard/")

    assert page.status_code == 200
    assert f'href="/dashboard/services/{name}"' in page.text
    assert 'src="/dashboard/static/plotly.min.js"' in page.text
    assert client.get("/dashboard/static/dashboard.css").status_code == 200
