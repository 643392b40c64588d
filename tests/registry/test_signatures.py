"""A finished version gets its artifact's signature only over the digest that was checked (`mlseam sign`)."""

from __future__ import annotations

import uuid

import pytest

from mlseam.errors import StoreError, VersionNotFoundError
from mlseam.registry import InMemoryRegistry, ModelVersion, Registry, Status
from mlseam.stores import Stores

DIGEST = "ab" * 32


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.integration)])
def registry(request: pytest.FixtureRequest) -> Registry:
    if request.param == "memory":
        return InMemoryRegistry()
    stores: Stores = request.getfixturevalue("stores")
    return stores.registry


def _finished(registry: Registry, service: str) -> ModelVersion:
    record = ModelVersion(service=service, number=registry.allocate_version(service))
    registry.create_version(record)
    record.status, record.artifact_key, record.artifact_sha256 = Status.KEPT, "a/v1", DIGEST
    registry.update_version(record)
    return record


def test_a_finished_version_is_signed_and_keeps_what_the_monitor_attached(registry: Registry) -> None:
    # given: a finished, unsigned version the monitor has measured
    service = f"svc-{uuid.uuid4().hex[:8]}"
    version = _finished(registry, service).version
    registry.record_monitoring(service, version, live={"rows": 3})
    # when
    registry.record_signature(service, version, sha256=DIGEST, signature="c2ln", key_id="arn:key")
    # then
    signed = registry.get_version(service, version)
    assert (signed.artifact_signature, signed.artifact_signing_key) == ("c2ln", "arn:key")
    assert signed.status == Status.KEPT and signed.live == {"rows": 3}


def test_a_signature_over_another_digest_is_never_recorded(registry: Registry) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    version = _finished(registry, service).version
    with pytest.raises(StoreError, match="its artifact is no longer"):
        registry.record_signature(service, version, sha256="cd" * 32, signature="c2ln", key_id="arn:key")
    assert registry.get_version(service, version).artifact_signature is None
    with pytest.raises(VersionNotFoundError):
        registry.record_signature(service, "v9", sha256=DIGEST, signature="c2ln", key_id="arn:key")
