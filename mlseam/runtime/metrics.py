"""Prometheus metrics of running models: the version loaded, reloads, and coalesced predict calls."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CALL_ROWS = Histogram(
    "mlseam_predict_call_rows",
    "Rows per model.predict call after coalescing concurrent requests",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
CALL_REQUESTS = Histogram(
    "mlseam_predict_call_requests",
    "Requests coalesced into one model.predict call",
    ["service"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
MODEL_VERSION = Gauge("mlseam_model_loaded", "1 for the model version being served", ["service", "version"])
PINNED_VERSIONS = Gauge(
    "mlseam_pinned_versions_loaded", "Versions besides the champion held for X-Model-Version requests", ["service"]
)
RELOADS = Counter("mlseam_model_reloads_total", "Champion reload attempts by result", ["service", "result"])
PREDICTIONS_LOGGED = Counter(
    "mlseam_predictions_logged_total", "Predictions written to the prediction log", ["service"]
)
PREDICTIONS_DROPPED = Counter(
    "mlseam_predictions_dropped_total",
    "Predictions not logged: the buffer was full or the log could not be written",
    ["service", "reason"],
)
