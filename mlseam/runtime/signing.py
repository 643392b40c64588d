"""Signing versions stored before artifacts were signed: each is checked as a load checks it, then signed."""

from __future__ import annotations

from mlseam.artifacts import ArtifactStore
from mlseam.registry import Registry
from mlseam.runtime.codec import load_model
from mlseam.runtime.loading import recorded_signature


def unsigned_versions(registry: Registry, service: str) -> list[str]:
    """The versions of ``service`` that have an artifact and no signature, oldest first."""
    found = [r for r in registry.list_versions(service) if r.has_artifact and r.artifact_signature is None]
    return [record.version for record in sorted(found, key=lambda record: record.number)]


def sign_version(registry: Registry, artifacts: ArtifactStore, service: str, version: str) -> str:
    """Sign an unsigned version's artifact with the trusted key once its sha256 and globals pass; says what it did.

    Its bytes are unpickled through the allow-list first, so a signature never vouches for a pickle
    naming a refused global. A version already signed is verified, never signed over: a signature
    that fails is UntrustedArtifactError, as when loading it.
    """
    record = registry.get_version(service, version)
    name = f"{service} {record.version}"
    if not (record.artifact_key and record.artifact_sha256):
        return f"{name}: no artifact, nothing to sign"
    signature = recorded_signature(record)
    if signature is not None:
        artifacts.get_signed(record.artifact_key, record.artifact_sha256, signature, name=name)
        return f"{name}: already signed by the trusted key"
    load_model(artifacts.get(record.artifact_key, record.artifact_sha256), service=service, where=name)
    made = artifacts.sign(record.artifact_sha256)
    registry.record_signature(
        service, record.version, sha256=record.artifact_sha256, signature=made.value, key_id=made.key_id
    )
    return f"{name}: signed (sha256 {record.artifact_sha256[:12]}..., key {made.key_id})"
