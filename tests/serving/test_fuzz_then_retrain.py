"""Whatever the examples route accepts, however odd, the next retrain still trains on it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import schemathesis
from api_servers import Served
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode

from builders import stack_env

# Minutes of generated requests per service: make test-slow runs them, make test leaves them out.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("which", ["digits", "diabetes", "amounts"])
def test_a_retrain_after_fuzzing_the_examples_route_succeeds_and_keeps_a_champion(served: Served, which: str) -> None:
    # given: examples generated from the route's own schema, stored as the API accepted them
    name = getattr(served, which)
    schema = schemathesis.openapi.from_url(served.api.url(f"/{name}/openapi.json"))
    schema.config.update(base_url=served.api.url(f"/{name}"))
    statuses: list[int] = []

    @settings(max_examples=25, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=schema["/v1/examples"]["POST"].as_strategy(generation_mode=GenerationMode.POSITIVE))
    def store_generated_examples(case: Case) -> None:
        response = case.call(timeout=60)
        # 422 is fair for what the schema cannot say (strip rows of one width); nothing else is.
        assert response.status_code in (201, 422), f"{response.status_code} {response.text}"
        statuses.append(response.status_code)

    store_generated_examples()
    assert 201 in statuses, f"no generated example was stored, so the retrain would test nothing: {statuses}"

    # when: the retrain job as the scheduler runs it
    retrain = subprocess.run(
        [sys.executable, "-m", "mlseam.cli", "retrain", name],
        env=stack_env(served.settings),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # then
    assert retrain.returncode == 0, f"{retrain.stdout}{retrain.stderr[-3000:]}"
    assert served.stores.registry.get_champion(name) is not None, retrain.stdout
