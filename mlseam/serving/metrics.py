"""Prometheus metrics of the HTTP layer, labelled by service and route: counted in plain Python, read at scrape."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics(Collector):
    """``mlseam_http_requests_total`` (service, route, status) and ``mlseam_http_request_seconds`` (service,
    route), as ``prometheus_client``'s Counter and Histogram expose them.

    A request adds to a dict and a list; the metric families are built only when scraped.
    prometheus_client's own Counter and Histogram take a lock per increment and walk the buckets
    in Python, which cost more than the rest of a request's accounting. Requests are counted on
    the event loop's thread (the middleware) and scraped there too (``GET /metrics``), so plain
    ints suffice.
    """

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        """Per (service, route): a count per bucket (non-cumulative, +Inf last), then the sum of seconds."""

    def observe(self, service: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        key = (service, route, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        counts = self._latency.get((service, route))
        if counts is None:
            counts = self._latency[(service, route)] = [0.0] * (len(self.buckets) + 2)
        counts[bisect.bisect_left(self.buckets, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "mlseam_http_requests", "HTTP requests by route and status", labels=["service", "route", "status"]
        )
        for (service, route, status), count in list(self._requests.items()):
            requests.add_metric([service, route, str(status)], count)
        yield requests
        latency = HistogramMetricFamily(
            "mlseam_http_request_seconds", "HTTP request latency", labels=["service", "route"]
        )
        for (service, route), counts in list(self._latency.items()):
            cumulative: list[tuple[str, float]] = []
            total = 0.0
            for bound, in_bucket in zip((*map(floatToGoString, self.buckets), "+Inf"), counts, strict=False):
                total += in_bucket
                cumulative.append((bound, total))
            latency.add_metric([service, route], cumulative, sum_value=counts[-1])
        yield latency


HTTP_METRICS = HttpMetrics()
REGISTRY.register(HTTP_METRICS)
