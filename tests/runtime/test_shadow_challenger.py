"""Which version answers in shadow: the latest pending one, else an opted-in fresh candidate, else none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlseam.manifest.shadow import ShadowOptions
from mlseam.registry import ModelVersion, Status
from mlseam.runtime.shadow import select_challenger

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _version(number: int, status: Status, *, hours_ago: float = 1.0, artifact: bool = True) -> ModelVersion:
    return ModelVersion(
        service="svc",
        number=number,
        status=status,
        finished_at=(NOW - timedelta(hours=hours_ago)).isoformat(),
        artifact_key=f"k{number}" if artifact else None,
        artifact_sha256="00" if artifact else None,
    )


def test_the_latest_pending_version_is_the_challenger() -> None:
    versions = [_version(4, Status.PENDING), _version(3, Status.PENDING), _version(2, Status.PROMOTED)]
    chosen = select_challenger(versions, "v2", ShadowOptions(), NOW)
    assert chosen is not None and chosen.version == "v4"


def test_a_kept_candidate_is_shadowed_only_when_opted_in_and_only_for_its_time() -> None:
    versions = [_version(3, Status.KEPT, hours_ago=2), _version(2, Status.PROMOTED, hours_ago=30)]
    assert select_challenger(versions, "v2", ShadowOptions(), NOW) is None
    chosen = select_challenger(versions, "v2", ShadowOptions(candidates_for=3 * 3600), NOW)
    assert chosen is not None and chosen.version == "v3"
    assert select_challenger(versions, "v2", ShadowOptions(candidates_for=3600), NOW) is None


def test_nothing_is_shadowed_at_share_zero_or_once_a_newer_version_stored_an_artifact() -> None:
    pending = [_version(3, Status.PENDING), _version(2, Status.PROMOTED)]
    assert select_challenger(pending, "v2", ShadowOptions(share=0.0), NOW) is None
    superseded = [_version(4, Status.PROMOTED), _version(3, Status.KEPT), _version(2, Status.PROMOTED)]
    assert select_challenger(superseded, "v4", ShadowOptions(candidates_for=86400), NOW) is None
    failed = [_version(4, Status.FAILED, artifact=False), _version(3, Status.KEPT)]
    chosen = select_challenger(failed, "v2", ShadowOptions(candidates_for=86400), NOW)
    assert chosen is not None and chosen.version == "v3"
    rejected = [_version(3, Status.REJECTED), _version(2, Status.PROMOTED)]
    assert select_challenger(rejected, "v2", ShadowOptions(candidates_for=86400), NOW) is None
