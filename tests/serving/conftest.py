"""One API process serving trained services, shared by the read-only API tests of a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_servers import Served, start_api, train

from builders import clone_service, linear_examples, linear_service
from mlseam.local.stack import LocalStack
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.stores import build_stores, create_batch_resources


@pytest.fixture(scope="module")
def served(
    local_stack: LocalStack, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    services_dir = tmp_path_factory.mktemp("services")
    settings = stack_settings.model_copy(update={"services_dir": services_dir})
    stores = build_stores(settings)
    digits = clone_service(services_dir, "digits")
    diabetes = clone_service(services_dir, "diabetes")
    amounts = clone_service(services_dir, "amounts")
    exploding = linear_service(services_dir, model="ExplodingModel")
    stores.examples.add(exploding, load_service(exploding, services_dir).kind, linear_examples(60, seed=1), source="t")
    for name in (digits, diabetes, exploding, amounts):
        train(settings, stores, name)
    create_batch_resources(settings, [digits, diabetes, exploding, amounts])
    api = start_api(
        settings,
        [digits, diabetes, exploding, amounts],
        tmp_path_factory.mktemp("logs"),
        MLSEAM_MAX_ITEMS="50",
        MLSEAM_MAX_BODY_BYTES="200000",
        MLSEAM_COALESCE_MAX_WAIT_MS="5",
    )
    yield Served(settings, stores, api, digits, diabetes, exploding, amounts)
    assert api.stop() == 0, api.logs()
