"""Property-based fuzzing of every endpoint against the API's own OpenAPI schema: never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from api_servers import Served
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode


def _operations(served: Served, name: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(served.api.url(f"/{name}/openapi.json"))
    schema.config.update(base_url=served.api.url(f"/{name}"))
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("which", ["digits", "diabetes", "amounts"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_endpoint_answers_5xx_to_generated_requests(served: Served, which: str, mode: GenerationMode) -> None:
    operations = _operations(served, getattr(served, which))
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/predict",
        "POST /v1/examples",
        "GET /v1/model",
        "GET /healthz",
        "GET /readyz",
    }
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # nothing to get wrong in a GET without parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: Any) -> None:
            response = case.call(timeout=30)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                assert response.json()["error"]["message"], where

        no_server_error()
