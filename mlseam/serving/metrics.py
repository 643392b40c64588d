"""Prometheus metrics of the HTTP layer, labelled by service and route."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("mlseam_http_requests_total", "HTTP requests by route and status", ["service", "route", "status"])
LATENCY = Histogram(
    "mlseam_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
