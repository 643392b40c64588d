"""Prometheus metrics of the challenger in shadow: its calls by outcome, their time, its process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SHADOW_CALLS = Counter(
    "mlseam_shadow_requests_total",
    "Requests handed to the challenger in shadow, by outcome (ok, error, timeout, dropped)",
    ["service", "version", "outcome"],
)
SHADOW_SECONDS = Histogram(
    "mlseam_shadow_predict_seconds",
    "Time the challenger took to answer one request in shadow",
    ["service"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SHADOW_LOADED = Gauge("mlseam_shadow_loaded", "1 for the challenger version loaded in shadow", ["service", "version"])
SHADOW_RESTARTS = Counter(
    "mlseam_shadow_restarts_total",
    "Challenger processes started, by why (challenger, timeout, died)",
    ["service", "reason"],
)
