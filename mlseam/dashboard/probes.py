"""What the dashboard reads of a running API: its readiness and the p95 latency of its predict route."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

LATENCY = "mlseam_http_request_seconds"
"""The APIs' request latency histogram (``mlseam/serving/metrics.py``)."""


@dataclass(frozen=True)
class ApiHealth:
    """One API as its endpoints answered: ready or why not, and p95 predict latency since it started."""

    ready: bool | None  # None: not probed or unreachable
    detail: str
    p95_ms: float | None = None
    requests: int = 0


NOT_PROBED = ApiHealth(None, "not probed (no API URL given)")


def p95_from_metrics(text: str, service: str) -> tuple[float | None, int]:
    """The 95th percentile (the upper bound of its histogram bucket, ms) and count of predict requests."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != LATENCY:
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_bucket")
                and labels.get("service") == service
                and "predict" in labels.get("route", "")
            ):
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    total = buckets.get(math.inf, 0.0)
    if total <= 0:
        return None, 0
    for bound in sorted(buckets):
        if buckets[bound] >= 0.95 * total:
            return (None if math.isinf(bound) else bound * 1000.0), int(total)
    return None, int(total)


class ApiProbe:
    """Reads ``<base_url>/<service>/readyz`` and ``/metrics`` with a short timeout each."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)

    def check(self, service: str) -> ApiHealth:
        """The API's readiness and latency; an API that does not answer is reported, never raised."""
        base = f"{self.base_url}/{service}"
        try:
            ready = self.client.get(f"{base}/readyz")
        except httpx.HTTPError as exc:
            return ApiHealth(None, f"unreachable: {type(exc).__name__}")
        if ready.status_code == 404:
            return ApiHealth(None, f"no API of {service} at {self.base_url}")
        detail = "ready" if ready.status_code == 200 else f"not ready ({ready.status_code}): {ready.text[:200]}"
        try:
            metrics = self.client.get(f"{base}/metrics")
        except httpx.HTTPError:
            return ApiHealth(ready.status_code == 200, detail)
        if metrics.status_code != 200:
            return ApiHealth(ready.status_code == 200, detail + f"; metrics not readable ({metrics.status_code})")
        p95, count = p95_from_metrics(metrics.text, service)
        return ApiHealth(ready.status_code == 200, detail, p95, count)
