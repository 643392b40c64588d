"""Manual promote and rollback on the in-memory fakes: what may move the champion, and where to."""

from __future__ import annotations

import pytest

from mlseam.artifacts import InMemoryArtifactStore
from mlseam.errors import ArtifactIntegrityError, PromotionError
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
        stored = artifacts.put(f"a/{record.version}", record.version.encode())
        record.artifact_key, record.artifact_sha256 = stored.key, stored.sha256
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


def test_rollback_returns_to_the_previous_champion_not_the_previous_number(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore
) -> None:
    # given: v1 then v2 champion, then v1 promoted again by hand
    for _ in range(2):
        _version(registry, artifacts)
    for version in ("v1", "v2", "v1"):
        promote(registry, artifacts, SERVICE, version)
    # when / then: the rollback goes back to v2, the champion before
    assert rollback(registry, artifacts, SERVICE, actor="ana@laptop").version == "v2"
    assert registry.history(SERVICE)[-1].actor == "ana@laptop"
    # and v1, just rolled back away from, is not a target any more
    with pytest.raises(PromotionError, match="no earlier champion to roll back to from v2"):
        rollback_target(registry, SERVICE)


def test_a_rolled_back_version_promoted_again_can_be_returned_to(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore
) -> None:
    # given: v2 rolled back, then promoted again, then v3 promoted
    for _ in range(3):
        _version(registry, artifacts)
    promote(registry, artifacts, SERVICE, "v1")
    promote(registry, artifacts, SERVICE, "v2")
    rollback(registry, artifacts, SERVICE)
    with pytest.raises(PromotionError, match="no earlier champion"):
        rollback_target(registry, SERVICE)  # v2 was rolled back away from
    promote(registry, artifacts, SERVICE, "v2", reason="fixed data, v2 is fine")
    promote(registry, artifacts, SERVICE, "v3")
    # when / then: rolling back from v3 returns to v2, then to v1; v3 and v2 are skipped once left
    assert rollback(registry, artifacts, SERVICE).version == "v2"
    assert rollback(registry, artifacts, SERVICE).version == "v1"
    with pytest.raises(PromotionError, match="no earlier champion"):
        rollback_target(registry, SERVICE)


def test_a_rolled_back_version_is_skipped_by_later_rollbacks(
    registry: InMemoryRegistry, artifacts: InMemoryArtifactStore
) -> None:
    # given: v1, v2 champions; v2 rolled back to v1; then v3 promoted
    for _ in range(3):
        _version(registry, artifacts)
    promote(registry, artifacts, SERVICE, "v1")
    promote(registry, artifacts, SERVICE, "v2")
    rollback(registry, artifacts, SERVICE)
    promote(registry, artifacts, SERVICE, "v3")
    # when / then: a rollback from v3 goes to v1, never to the rolled-back v2
    assert rollback_target(registry, SERVICE) == "v1"


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
