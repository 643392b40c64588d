"""Artifacts are write-once and a digest mismatch is refused before anything is unpickled."""

from __future__ import annotations

import uuid

import pytest

from mlseam.artifacts import ArtifactStore, InMemoryArtifactStore, S3ArtifactStore, sha256_of
from mlseam.errors import ArtifactIntegrityError, ContractError, StoreError
from mlseam.runtime.codec import dump_model, load_model
from mlseam.stores import Stores


@pytest.fixture(params=["memory", pytest.param("s3", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    if request.param == "memory":
        return InMemoryArtifactStore()
    stores: Stores = request.getfixturevalue("stores")
    return stores.artifacts


def _tamper(store: ArtifactStore, key: str, data: bytes) -> None:
    if isinstance(store, S3ArtifactStore):
        store.client.put_object(Bucket=store.bucket, Key=key, Body=data)
    else:
        assert isinstance(store, InMemoryArtifactStore)
        store.objects[key] = data


def test_put_then_get_checks_the_digest(store: ArtifactStore) -> None:
    key = f"t/{uuid.uuid4().hex}/model.pkl"
    stored = store.put(key, b"model bytes")
    assert stored.sha256 == sha256_of(b"model bytes") and stored.size == 11
    assert store.get(key, stored.sha256) == b"model bytes"


def test_a_key_is_never_overwritten(store: ArtifactStore) -> None:
    key = f"t/{uuid.uuid4().hex}/model.pkl"
    stored = store.put(key, b"first")
    with pytest.raises(StoreError, match="already exists; artifacts are immutable"):
        store.put(key, b"second")
    assert store.get(key, stored.sha256) == b"first"


def test_a_tampered_artifact_is_refused(store: ArtifactStore) -> None:
    key = f"t/{uuid.uuid4().hex}/model.pkl"
    stored = store.put(key, b"honest")
    _tamper(store, key, b"evil")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load it"):
        store.get(key, stored.sha256)


def test_a_missing_artifact_is_a_store_error(store: ArtifactStore) -> None:
    with pytest.raises(StoreError, match="cannot read artifact"):
        store.get("t/nothing-here", "0" * 64)


def test_only_models_load_from_artifacts() -> None:
    import pickle

    with pytest.raises(ContractError, match="holds a dict, not an mlseam.Model"):
        load_model(pickle.dumps({"a": 1}), service="x", where="x v1")
    with pytest.raises(ContractError, match="x v1: cannot be loaded"):
        load_model(b"not a pickle", service="x", where="x v1")
    with pytest.raises(ContractError, match="cannot be saved"):
        dump_model(lambda: None, service="x")  # type: ignore[arg-type]
