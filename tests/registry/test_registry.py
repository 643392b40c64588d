"""Registry semantics, the same for DynamoDB (on the emulator) and the in-memory fake."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from mlseam.errors import PromotionConflictError, StoreError, VersionNotFoundError
from mlseam.registry import InMemoryRegistry, ModelVersion, Registry, Status
from mlseam.stores import Stores


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.integration)])
def registry(request: pytest.FixtureRequest) -> Registry:
    if request.param == "memory":
        return InMemoryRegistry()
    stores: Stores = request.getfixturevalue("stores")
    return stores.registry


@pytest.fixture
def service() -> str:
    return f"svc-{uuid.uuid4().hex[:8]}"


def _stored(registry: Registry, service: str, status: Status = Status.PROMOTED) -> ModelVersion:
    record = ModelVersion(service=service, number=registry.allocate_version(service), primary_metric="f1")
    registry.create_version(record)
    record.status, record.metrics = status, {"f1": 0.5, "weird": float("nan")}
    record.artifact_key, record.artifact_sha256 = f"a/{record.version}", "0" * 64
    registry.update_version(record)
    return record


def test_version_numbers_are_unique_under_concurrency(registry: Registry, service: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: registry.allocate_version(service), range(40)))
    assert sorted(numbers) == list(range(1, 41))


def test_a_record_round_trips_with_non_finite_metrics(registry: Registry, service: str) -> None:
    stored = _stored(registry, service)
    loaded = registry.get_version(service, stored.version)
    assert loaded.metrics["f1"] == 0.5 and loaded.metrics["weird"] != loaded.metrics["weird"]
    assert loaded.status == Status.PROMOTED
    assert [v.version for v in registry.list_versions(service)] == [stored.version]


def test_a_finished_record_cannot_be_rewritten(registry: Registry, service: str) -> None:
    stored = _stored(registry, service)
    stored.status = Status.FAILED
    with pytest.raises(StoreError, match="is no longer running"):
        registry.update_version(stored)
    assert registry.get_version(service, stored.version).status == Status.PROMOTED
    with pytest.raises(StoreError, match="already exists"):
        registry.create_version(stored)


def test_unknown_versions_are_a_clear_error(registry: Registry, service: str) -> None:
    with pytest.raises(VersionNotFoundError, match=f"{service} has no version v9"):
        registry.get_version(service, "v9")
    with pytest.raises(VersionNotFoundError, match="is not a version name"):
        registry.get_version(service, "latest")


def test_two_racing_promotions_leave_exactly_one_champion(registry: Registry, service: str) -> None:
    # given: a champion and two candidates that both read it
    first = _stored(registry, service)
    registry.move_champion(service, first.version, expected_revision=0, action="promote", reason="first")
    candidates = [_stored(registry, service) for _ in range(6)]
    expected = registry.get_champion(service).revision  # type: ignore[union-attr]
    barrier = threading.Barrier(len(candidates))

    def promote(record: ModelVersion) -> str:
        barrier.wait()
        try:
            registry.move_champion(service, record.version, expected_revision=expected, action="promote", reason="race")
        except PromotionConflictError:
            return "lost"
        return "won"

    # when
    with ThreadPoolExecutor(len(candidates)) as pool:
        results = list(pool.map(promote, candidates))

    # then: one winner, the pointer and the history agree
    assert results.count("won") == 1
    winner = candidates[results.index("won")].version
    champion = registry.get_champion(service)
    assert champion is not None and champion.version == winner and champion.revision == expected + 1
    history = registry.history(service)
    assert [(e.revision, e.to_version) for e in history] == [(1, first.version), (2, winner)]
    assert history[1].from_version == first.version


def test_every_move_is_kept_in_history(registry: Registry, service: str) -> None:
    one, two = _stored(registry, service), _stored(registry, service)
    registry.move_champion(service, one.version, expected_revision=0, action="promote", reason="first model")
    registry.move_champion(service, two.version, expected_revision=1, action="promote", reason="better")
    registry.move_champion(
        service, one.version, expected_revision=2, action="rollback", reason="bad release", actor="ana@laptop"
    )
    history = registry.history(service)
    assert [(e.action, e.from_version, e.to_version, e.reason, e.actor) for e in history] == [
        ("promote", None, one.version, "first model", ""),
        ("promote", one.version, two.version, "better", ""),
        ("rollback", two.version, one.version, "bad release", "ana@laptop"),
    ]
    assert all(e.at for e in history)


def test_a_move_that_settles_a_pending_version_writes_nothing_once_it_is_settled(
    registry: Registry, service: str
) -> None:
    # given: v1 pending, then rejected by another operator after the approver read it
    pending = _stored(registry, service, status=Status.PENDING)
    approved = ModelVersion.from_json(pending.to_json())
    approved.status = Status.PROMOTED
    rejected = ModelVersion.from_json(pending.to_json())
    rejected.status = Status.REJECTED
    registry.update_version(rejected, expected=Status.PENDING)
    # when / then: the approval's move is refused as a whole
    with pytest.raises(PromotionConflictError):
        registry.move_champion(
            service, pending.version, expected_revision=0, action="approve", reason="r", actor="a", settles=approved
        )
    assert registry.get_champion(service) is None and registry.history(service) == []
    assert registry.get_version(service, pending.version).status == Status.REJECTED


def test_a_move_that_settles_a_pending_version_writes_pointer_history_and_version_together(
    registry: Registry, service: str
) -> None:
    # given
    pending = _stored(registry, service, status=Status.PENDING)
    approved = ModelVersion.from_json(pending.to_json())
    approved.status, approved.reason = Status.PROMOTED, "approved by a"
    # when
    champion = registry.move_champion(
        service, pending.version, expected_revision=0, action="approve", reason="r", actor="a", settles=approved
    )
    # then
    assert champion.version == pending.version and champion.revision == 1
    assert [(e.action, e.actor) for e in registry.history(service)] == [("approve", "a")]
    stored = registry.get_version(service, pending.version)
    assert (stored.status, stored.reason) == (Status.PROMOTED, "approved by a")
    with pytest.raises(StoreError, match="is no longer pending"):
        registry.update_version(approved, expected=Status.PENDING)
