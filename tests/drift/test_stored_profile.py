"""A retrain stores its version's drift profile beside the model, and a profile failure never fails it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits

from builders import clone_service, linear_examples, linear_service
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.drift import DriftVerdict, compare
from mlseam.examples import InMemoryExamplesStore
from mlseam.manifest import load_service
from mlseam.registry import InMemoryRegistry, Status
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer, profiling, seed_service
from mlseam.training.profiling import load_profile, sample_examples


def _fake_retrain(services_dir: Path) -> tuple[InMemoryRegistry, InMemoryArtifactStore, str]:
    examples, registry, artifacts = InMemoryExamplesStore(), InMemoryRegistry(), InMemoryArtifactStore()
    service = load_service(linear_service(services_dir), services_dir)
    examples.add(service.name, service.kind, linear_examples(200, seed=1), source="test")
    Retrainer(service, examples=examples, registry=registry, artifacts=artifacts).run()
    return registry, artifacts, service.name


def test_a_retrain_stores_the_profile_beside_the_model(services_dir: Path) -> None:
    registry, artifacts, name = _fake_retrain(services_dir)
    record = registry.get_version(name, "v1")
    assert record.status is Status.PROMOTED
    assert record.profile_key == f"artifacts/{name}/v1/profile.json"
    assert record.artifact_key == f"artifacts/{name}/v1/model.pkl"
    profile = load_profile(record, artifacts)
    assert profile is not None and profile.outputs is not None
    assert list(profile.inputs.statistics) == ["x1", "x2", "x3"] and profile.inputs.count == record.train_count
    assert list(profile.outputs.statistics) == ["value"] and profile.outputs.count == record.holdout_count


@pytest.mark.parametrize(
    ("step", "logged"),
    [("profile_inputs", "no drift profile of the training inputs"), ("profile_outputs", "no drift profile recorded")],
)
def test_a_profile_that_cannot_be_made_leaves_the_retrain_promoted_without_one(
    step: str, logged: str, services_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("profiling broke")

    monkeypatch.setattr(profiling, step, broken)
    with caplog.at_level(logging.WARNING, logger="mlseam.retrain"):
        registry, artifacts, name = _fake_retrain(services_dir)
    record = registry.get_version(name, "v1")
    assert record.status is Status.PROMOTED and record.profile_key is None
    assert load_profile(record, artifacts) is None
    assert list(artifacts.objects) == [record.artifact_key]
    assert logged in caplog.text and "profiling broke" in caplog.text


def test_the_profile_samples_at_most_its_limit_of_rows_the_same_each_time(services_dir: Path) -> None:
    service = load_service(linear_service(services_dir), services_dir)
    store = InMemoryExamplesStore()
    store.add(service.name, service.kind, linear_examples(300, seed=2), source="test")
    examples = store.read(service.name, service.kind).examples
    first, again = sample_examples(examples, limit=100), sample_examples(examples, limit=100)
    assert len(first) == 100 and np.array_equal(first.ids, again.ids)
    assert np.all(np.diff(first.ids.astype(np.int64)) > 0)


@pytest.mark.parametrize("template", ["diabetes", "digits"])
def test_a_retrain_on_the_real_stack_stores_a_profile_that_loads_back(
    template: str, settings: Settings, stores: Stores
) -> None:
    # given: a demo service seeded on the real stack
    service = load_service(clone_service(settings.services_dir, template), settings.services_dir)
    seed_service(service, stores)

    # when: it retrains
    Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()

    # then: the version read back from DynamoDB points at a profile in S3 that loads and compares
    record = stores.registry.get_version(service.name, "v1")
    assert record.profile_key == f"artifacts/{service.name}/v1/profile.json"
    profile = load_profile(record, stores.artifacts)
    assert profile is not None and profile.outputs is not None
    assert profile.inputs.count == record.train_count and profile.outputs.count == record.holdout_count
    data = load_diabetes().data if template == "diabetes" else list(load_digits().images)
    assert compare(profile.inputs, data).verdict is DriftVerdict.STABLE
    shifted = data * 3 if template == "diabetes" else [16 - image for image in data]
    assert compare(profile.inputs, shifted).verdict is DriftVerdict.DRIFTED
