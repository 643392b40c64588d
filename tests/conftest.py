"""Shared fixtures: one real local stack (PostgreSQL + AWS emulator) per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlseam.local.ports import free_port
from mlseam.local.stack import LocalStack
from mlseam.settings import Settings
from mlseam.stores import Stores, build_stores


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs the local stack is an integration test (`make unit` skips them)."""
    for item in items:
        if "local_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of the session's stack: free ports, its own data folder, tables and bucket."""
    return Settings(
        environment="local",
        local_dir=tmp_path_factory.mktemp("local-stack"),
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/mlseam",
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        registry_table="mlseam-registry-test",
        artifacts_bucket="mlseam-artifacts-test",
    )


@pytest.fixture(scope="session")
def local_stack(stack_settings: Settings) -> Iterator[LocalStack]:
    """The same stack code `make run` uses, started once for the whole session."""
    with LocalStack(stack_settings) as stack:
        yield stack


@pytest.fixture
def services_dir(tmp_path: Path) -> Path:
    """An empty services folder for the test to fill with builders.clone_service & co."""
    path = tmp_path / "services"
    path.mkdir()
    return path


@pytest.fixture
def settings(local_stack: LocalStack, stack_settings: Settings, services_dir: Path) -> Settings:
    """Settings pointing at the running stack and at this test's own services folder."""
    return stack_settings.model_copy(update={"services_dir": services_dir})


@pytest.fixture
def stores(settings: Settings) -> Stores:
    """The real stores on the local stack."""
    return build_stores(settings)
