"""The dashboard in headless chromium on the real local stack: numbers, plots, no console error, no outside request."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from api_servers import ApiProcess, start_api
from playwright.sync_api import Browser, Page, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from builders import clone_service, stack_env
from mlseam.local.ports import free_port
from mlseam.local.stack import LocalStack, demo_input
from mlseam.manifest import load_service
from mlseam.registry import ModelVersion
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores, build_stores, create_batch_resources
from mlseam.training import Retrainer, seed_service

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / ".artifacts" / "screenshots"
LOOPBACK = ("127.0.0.1", "localhost")
SCREENS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def chromium_path() -> str:
    """Debian's chromium; its absence fails the test rather than skipping it (`.ci/run` installs it)."""
    path = os.environ.get("MLSEAM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("no chromium on PATH: apt-get install -y chromium (or set MLSEAM_CHROMIUM)")
    return path


@dataclass
class Dashboard:
    """Seeded, retrained services, their API and the dashboard process reading the same stores."""

    url: str
    settings: Settings
    stores: Stores
    names: list[str]
    api: ApiProcess
    process: subprocess.Popen[bytes]


@dataclass
class Watched:
    """What a page did that a test must see: console errors, failed scripts, requests off the machine."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def dashboard(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    """Two services seeded and retrained as `make run` does (one of them three times), served, and the dashboard."""
    services_dir = tmp_path_factory.mktemp("dashboard-services")
    settings = stack_settings.model_copy(update={"services_dir": services_dir})
    stores = build_stores(settings)
    names = [clone_service(services_dir, "diabetes"), clone_service(services_dir, "wine")]
    create_batch_resources(settings, names)
    for name, runs in zip(names, (3, 1), strict=True):
        service = load_service(name, services_dir)
        seed_service(service, stores)
        for run in range(runs):
            Retrainer.for_settings(service, stores, settings).run(force=run > 0)
    champion = stores.registry.get_champion(names[0])
    assert champion is not None
    stores.registry.record_monitoring(names[0], champion.version, live={"metrics": {"rmse": 61.25}, "labelled": 120})
    logs = tmp_path_factory.mktemp("dashboard-logs")
    api = start_api(settings, names, logs)
    diabetes = load_service(names[0], services_dir)
    predicted = httpx.post(api.url(f"/{names[0]}/v1/predict"), json={"inputs": [demo_input(diabetes)]}, timeout=10)
    assert predicted.status_code == 200, predicted.text
    # No worker runs here, so this batch's one chunk stays on the wine queue for the overview to count.
    wine = load_service(names[1], services_dir)
    queued = httpx.post(api.url(f"/{names[1]}/v1/batches"), json={"inputs": [demo_input(wine)]}, timeout=10)
    assert queued.status_code == 202, queued.text
    port = free_port()
    log = (logs / "dashboard.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlseam.cli", "dashboard", "--api-url", api.base_url],
        env=stack_env(settings, MLSEAM_SERVE_PORT=str(port)),
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, logs / "dashboard.log")
        yield Dashboard(url, settings, stores, names, api, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        api.stop()
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the dashboard never answered:\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_page(browser: Browser, url: str, screen: str, watched: Watched) -> Page:
    """``url`` at ``screen`` size, every request checked to stay on this machine, charts drawn."""
    context = browser.new_context(viewport=SCREENS[screen])  # type: ignore[arg-type]

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and watched.errors.append(message.text))
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-charts-drawn]", timeout=20_000)
    return page


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def points(page: Page, selector: str, trace: int = 0) -> int:
    """How many points plotly drew for ``trace`` of the plot at ``selector``."""
    count: Any = page.eval_on_selector(
        selector, f"(el) => el.querySelectorAll('.scatterlayer .trace:nth-child({trace + 1}) .points path').length"
    )
    return int(count)


def _metric(record: ModelVersion) -> str:
    return f"{record.metrics[record.primary_metric]:.4f}"


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_overview_shows_the_registry_numbers_with_no_console_error_nor_outside_request(
    dashboard: Dashboard, browser: Browser, screen: str
) -> None:
    # given
    watched = Watched()
    diabetes, wine = dashboard.names
    champion = dashboard.stores.registry.get_champion(diabetes)
    assert champion is not None
    record = dashboard.stores.registry.get_version(diabetes, champion.version)

    # when
    page = open_page(browser, dashboard.url + "/", screen, watched)
    shoot(page, f"overview-{screen}")

    # then
    row = page.locator(f'tr[data-service="{diabetes}"]')
    assert row.locator(".champion").inner_text().startswith(champion.version)
    assert row.locator(".holdout").inner_text() == _metric(record)
    assert row.locator(".live").inner_text() == "61.2500"
    assert re.fullmatch(r"ready, p95 \d+ ms on 1", row.locator(".api").inner_text())
    assert row.locator(".queue").inner_text() == "0 queued, 0 dead letters"
    assert page.locator(f'tr[data-service="{wine}"] .queue').inner_text() == "1 queued, 0 dead letters"
    kind = load_service(diabetes, dashboard.settings.services_dir).kind
    count = dashboard.stores.examples.stats(diabetes, kind).count
    assert row.locator(".examples").inner_text() == str(count)
    for name, versions in ((diabetes, 3), (wine, 1)):
        spark = f'figure[data-chart="spark-{name}"]'
        assert points(page, spark) == versions
        described = page.locator(spark).get_attribute("aria-label") or ""
        for version in dashboard.stores.registry.list_versions(name):
            assert f"{version.version} {_metric(version)}" in described
    assert watched.errors == [] and watched.outside == []


@pytest.mark.parametrize("screen", list(SCREENS))
def test_a_service_page_plots_one_point_per_version_and_gives_each_plot_its_numbers_in_text(
    dashboard: Dashboard, browser: Browser, screen: str
) -> None:
    # given
    watched = Watched()
    name = dashboard.names[0]
    versions = dashboard.stores.registry.list_versions(name)
    moves = dashboard.stores.registry.history(name)

    # when
    page = open_page(browser, f"{dashboard.url}/services/{name}", screen, watched)
    shoot(page, f"service-{screen}")

    # then
    metric_plot = 'figure[data-chart="metric"]'
    assert points(page, metric_plot, trace=0) == len(versions) == 3
    assert points(page, metric_plot, trace=2) == len(moves)  # each champion move is marked
    assert points(page, 'figure[data-chart="examples"]') == len(versions) + 1  # each retrain, then now
    for record in versions:
        cells = page.locator(f'#versions tr[data-version="{record.version}"]')
        assert cells.locator(".holdout").inner_text() == _metric(record)
        assert record.status.value in cells.inner_text()
        text_row = page.locator("#metric-table tbody tr", has_text=record.version)
        assert _metric(record) in text_row.inner_text(timeout=1000) or _metric(record) in text_row.text_content()
    assert page.locator(".model-card h1").count() == 1  # the README, rendered
    assert watched.errors == [] and watched.outside == []


def test_the_policy_refuses_a_script_calling_another_origin_and_the_route_catches_what_gets_past(
    dashboard: Dashboard, browser: Browser
) -> None:
    watched = Watched()
    page = open_page(browser, dashboard.url + "/", "desktop", watched)

    page.evaluate("() => fetch('https://example.org/x').catch(() => null)")
    with pytest.raises(PlaywrightError):
        page.goto("https://example.org/")

    assert any("Content Security Policy" in error for error in watched.errors)  # the fetch never left
    assert watched.outside == ["https://example.org/"]  # the navigation did try, and was aborted
