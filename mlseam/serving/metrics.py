"""Prometheus metrics of the inference APIs, labelled by service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("mlseam_http_requests_total", "HTTP requests by route and status", ["service", "route", "status"])
LATENCY = Histogram(
    "mlseam_http_request_seconds",
    "HTTP request latency",
    ["service", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCH_ROWS = Histogram(
    "mlseam_predict_batch_rows",
    "Rows per model.predict call after micro-batching",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
BATCH_REQUESTS = Histogram(
    "mlseam_predict_batch_requests",
    "Requests coalesced into one model.predict call",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
MODEL_VERSION = Gauge("mlseam_model_loaded", "1 for the model version being served", ["service", "version"])
RELOADS = Counter("mlseam_model_reloads_total", "Champion reload attempts by result", ["service", "result"])
