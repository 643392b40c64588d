"""Saving a fitted model as a version's artifact: pickled, checked against the allow-list, stored, signed, recorded."""

from __future__ import annotations

from mlseam.artifacts import ArtifactStore, StoredArtifact
from mlseam.contract import Model
from mlseam.registry import ModelVersion
from mlseam.runtime.codec import dump_model


def store_model(record: ModelVersion, model: Model, artifacts: ArtifactStore, key: str) -> StoredArtifact:
    """Write ``model`` at ``key`` with its digest signed, and record where, its sha256, size and signature."""
    stored = artifacts.put_signed(key, dump_model(model, service=record.service))
    record.artifact_key, record.artifact_sha256, record.artifact_size = stored.key, stored.sha256, stored.size
    if stored.signature is not None:
        record.artifact_signature, record.artifact_signing_key = stored.signature.value, stored.signature.key_id
    return stored
