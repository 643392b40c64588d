"""Manual promote and rollback on the in-memory fakes: what may move the champion, and where to."""

from __future__ import annotations

import pytest

from mlseam.artifacts import InMemoryArtifactStore
from mlseam.errors import ArtifactIntegrityError, PromotionError, UntrustedArtifactError
from mlseam.registry import InMemoryRegistry, ModelVersion, Status
from mlseam.training import promote, rollback, rollback_target
from mlseam.training.promotion import rolled_back_versions

SERVICE = "svc"


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.fixture
def artifacts() -> InMemoryArtifactStore:
    return InMemoryArtifactStore()


def _version(registry: InMemoryRegistry, artifacts: InMemoryArtifactStore, *, artifact: bool = True) -> str:
    record = ModelVersion(service=SERVICE, number=registry.allocate_version(SERVICE))
    registry.create_version(record)
    if artifact:
        stored = artifacts.put_signed(f"a/{record.version}", record.version.encode())
        record.artifact_key, record.artifact_sha256 = stored.key, stored.sha256
        assert stored.signature is not None
        record.artifact_signature, record.artifact_signing_key = stored.signature.value, stored.signature.key_id
    record.status = Status.KEPT
    registry.update_version(record)
    return record.version


def test_rollback_walks_back_through_earlier_champions(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore
) -> None:
    # given: v1, v2, v3 promoted in turn; v4 never champion
    for _ in range(4):
        _version(registry, artifacts)
    for version in ("v1", "v2", "v3"):
        promote(registry, artifacts, SERVICE, version)
    # when / then: each rollback goes one champion further back, never forward again
    assert rollback(registry, artifacts, SERVICE).version == "v2"
    assert rollback(registry, artifacts, SERVICE).version == "v1"
    with pytest.raises(PromotionError, match="no earlier champion to roll back to from v1"):
        rollback_target(registry, SERVICE)
    assert rolled_back_versions(registry.history(SERVICE)) == {"v2", "v3"}
    assert [e.action for e in registry.history(SERVICE)] == ["promote"] * 3 + ["rollback"] * 2


@pytest.mark.parametrize(
    ("moves", "target"),
    [
        (["v1", "v2", "v3"], "v2"),
        (["v1", "v2", "v1"], "v2"),  # the previous champion, not the previous number
        (["v1", "v2", "rollback", "v3"], "v1"),  # v2 was rolled back from: skipped
        (["v1", "v2", "rollback", "v2", "v3"], "v2"),  # ... unless promoted again since
        (["v1", "v2", "v1", "rollback"], None),  # v1 was just left
        (["v1", "v2", "rollback"], None),
    ],
)
def test_the_rollback_target_follows_the_champion_history(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore, moves: list[str], target: str | None
) -> None:
    # given
    for _ in range(3):
        _version(registry, artifacts)
    for move in moves:
        if move == "rollback":
            rollback(registry, artifacts, SERVICE, actor="ana@laptop")
        else:
            promote(registry, artifacts, SERVICE, move, actor="ana@laptop")
    # when / then
    assert all(event.actor == "ana@laptop" for event in registry.history(SERVICE))
    if target is None:
        with pytest.raises(PromotionError, match="no earlier champion to roll back to"):
            rollback_target(registry, SERVICE)
    else:
        assert rollback_target(registry, SERVICE) == target


def test_promotion_refuses_what_cannot_serve(registry: InMemoryRegistry, artifacts: InMemoryArtifactStore) -> None:
    _version(registry, artifacts)
    empty = _version(registry, artifacts, artifact=False)
    with pytest.raises(PromotionError, match="has no artifact"):
        promote(registry, artifacts, SERVICE, empty)
    promote(registry, artifacts, SERVICE, "1")  # "1" and "v1" name the same version
    with pytest.raises(PromotionError, match="v1 is already the champion"):
        promote(registry, artifacts, SERVICE, "v1")
    with pytest.raises(PromotionError, match="has no champion yet|no earlier champion"):
        rollback(registry, artifacts, SERVICE)


def test_a_tampered_artifact_is_never_promoted(registry: InMemoryRegistry, artifacts: InMemoryArtifactStore) -> None:
    version = _version(registry, artifacts)
    artifacts.objects[f"a/{version}"] = b"tampered"
    with pytest.raises(ArtifactIntegrityError):
        promote(registry, artifacts, SERVICE, version)
    assert registry.get_champion(SERVICE) is None


def test_an_unsigned_or_forged_version_is_never_promoted(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore
) -> None:
    # given: one version stored without a signature, one whose signature is another digest's
    unsigned, forged = _version(registry, artifacts), _version(registry, artifacts)
    for version, signature in ((unsigned, None), (forged, artifacts.sign("0" * 64).value)):
        record = registry.get_version(SERVICE, version)
        record.artifact_signature = signature
        registry.update_version(record, expected=Status.KEPT)
    # then: the APIs would refuse both, so promotion does
    for version in (unsigned, forged):
        with pytest.raises(UntrustedArtifactError):
            promote(registry, artifacts, SERVICE, version)
    assert registry.get_champion(SERVICE) is None
