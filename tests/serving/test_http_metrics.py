"""The HTTP metrics read at scrape are the counts and latencies of the requests seen, as Prometheus expects."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from mlseam.serving.metrics import HttpMetrics


def test_requests_and_latencies_are_exposed_as_a_counter_and_a_cumulative_histogram() -> None:
    # given
    registry = CollectorRegistry()
    metrics = HttpMetrics(buckets=(0.01, 0.1))
    registry.register(metrics)
    # when: a latency on a bound counts in that bucket (Prometheus buckets are "less or equal")
    for seconds, status in ((0.005, 200), (0.01, 200), (0.05, 422), (3.0, 200)):
        metrics.observe("digits", "/v1/predict", status, seconds)
    # then
    labels = {"service": "digits", "route": "/v1/predict"}
    assert registry.get_sample_value("mlseam_http_requests_total", {**labels, "status": "200"}) == 3
    assert registry.get_sample_value("mlseam_http_requests_total", {**labels, "status": "422"}) == 1
    buckets = [
        registry.get_sample_value("mlseam_http_request_seconds_bucket", {**labels, "le": le})
        for le in ("0.01", "0.1", "+Inf")
    ]
    assert buckets == [2, 3, 4]
    assert registry.get_sample_value("mlseam_http_request_seconds_count", labels) == 4
    assert registry.get_sample_value("mlseam_http_request_seconds_sum", labels) == 3.065
