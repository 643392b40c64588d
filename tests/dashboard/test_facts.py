"""What the dashboard reads beside the registry: pending versions, p95 latency, the code left behind, growth."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from mlseam.dashboard.charts import describe_sparkline, sparkline
from mlseam.dashboard.code import count_placeholders, read_code_state
from mlseam.dashboard.facts import ServiceFacts, describe_growth, describe_outcome
from mlseam.dashboard.probes import ApiProbe, p95_from_metrics
from mlseam.registry import ModelVersion, Status
from mlseam.settings import REPO_ROOT


class Awaiting(StrEnum):
    """A status the registry may add for versions awaiting approval; the dashboard needs none defined."""

    PENDING = "pending"


def test_versions_whose_status_is_pending_are_listed_whether_or_not_the_registry_defines_it() -> None:
    waiting = ModelVersion(service="s", number=2, status=Awaiting.PENDING)  # type: ignore[arg-type]
    facts = ServiceFacts("s", versions=[ModelVersion(service="s", number=1, status=Status.PROMOTED), waiting])

    assert facts.pending == ["v2"]


def test_p95_is_the_bucket_bound_that_holds_95_percent_of_this_services_predict_requests() -> None:
    registry = CollectorRegistry()
    latency = Histogram("mlseam_http_request_seconds", "", ["service", "route"], registry=registry)
    for _ in range(95):
        latency.labels("digits", "/digits/v1/predict").observe(0.004)
    for _ in range(5):
        latency.labels("digits", "/digits/v1/predict").observe(0.9)
    latency.labels("digits", "/digits/healthz").observe(5.0)  # not a prediction
    latency.labels("wine", "/wine/v1/predict").observe(5.0)  # another service

    p95, count = p95_from_metrics(generate_latest(registry).decode(), "digits")

    assert count == 100
    assert p95 == 5.0  # ms: the default buckets' bound above 4 ms
    assert p95_from_metrics(generate_latest(registry).decode(), "amounts") == (None, 0)


def test_the_code_left_behind_comes_from_git_in_a_checkout_and_from_the_last_retrain_outside(tmp_path: Path) -> None:
    last = ModelVersion(service="digits", number=3, code_version="abc123", started_at="2026-11-02T03:00:00+00:00")

    in_git = read_code_state(REPO_ROOT / "services" / "digits", "ana", last)
    copy = tmp_path / "digits"
    shutil.copytree(REPO_ROOT / "services" / "digits", copy)
    outside = read_code_state(copy, "", last)

    assert in_git.source == "git" and in_git.changed_by and in_git.changed_at and in_git.owner == "ana"
    assert (outside.source, outside.changed_at, outside.code_version) == ("last retrain", last.started_at, "abc123")


def test_the_scaffolds_readme_placeholders_are_counted_until_filled_in(tmp_path: Path) -> None:
    template = REPO_ROOT / "mlseam" / "scaffold" / "templates" / "tabular_regression" / "README.md.tmpl"
    filled = tmp_path / "README.md"
    filled.write_text("# amounts\n\nPredicts the total of a receipt.\n")

    assert count_placeholders(template) >= 3
    assert count_placeholders(filled) == 0
    assert count_placeholders(tmp_path / "missing.md") == -1


def test_growth_is_counted_against_the_last_retrain_read_before_thirty_days() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)

    def read(days_ago: int, rows: int) -> ModelVersion:
        at = (now - timedelta(days=days_ago)).isoformat()
        return ModelVersion(service="s", number=days_ago, status=Status.KEPT, started_at=at, train_count=rows)

    old = ServiceFacts("s", versions=[read(40, 100), read(31, 150), read(2, 300)], examples=320)
    young = ServiceFacts("s", versions=[read(5, 50)], examples=80)

    assert describe_growth(old, now) == "+170 in 30 d"
    assert describe_growth(young, now) == "+30 since 2026-11-28"


def test_an_outcome_reads_as_its_status_gain_and_reason() -> None:
    record = ModelVersion(service="s", number=4, status=Status.PROMOTED, primary_metric="macro_f1")
    record.gain, record.reason = {"delta": 0.055}, "better on 360 holdout rows"

    assert describe_outcome(record) == "promoted: +0.0550 macro_f1: better on 360 holdout rows"


def test_a_sparkline_shows_the_last_sixty_versions_and_its_text_says_so() -> None:
    versions = [ModelVersion("s", n, primary_metric="rmse", metrics={"rmse": 1 / n}) for n in range(1, 71)]
    facts = ServiceFacts("s", versions=versions)

    spark, text = sparkline(facts), describe_sparkline(facts)

    assert spark["x"] == [f"v{n}" for n in range(11, 71)]
    assert "on the holdout of the last 60 versions: v11 0.0909, " in text
    assert text.endswith("v70 0.0143")


def test_an_api_is_ready_not_ready_absent_or_unreachable_as_its_endpoints_answer() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        service, route = request.url.path.strip("/").split("/", 1)
        if service == "down":
            raise httpx.ConnectError("refused", request=request)
        if service == "loading" and route == "readyz":
            return httpx.Response(503, text="no model yet")
        if service in ("digits", "loading"):
            return httpx.Response(200, text="" if route == "metrics" else "ok")
        return httpx.Response(404, text="Not Found")

    probe = ApiProbe("http://apis", transport=httpx.MockTransport(answer))

    assert probe.check("digits").ready is True
    assert (probe.check("loading").ready, probe.check("loading").detail) == (False, "not ready (503): no model yet")
    assert (probe.check("elsewhere").ready, probe.check("elsewhere").detail) == (
        None,
        "no API of elsewhere at http://apis",
    )
    assert probe.check("down").detail == "unreachable: ConnectError"
