"""The `approve` promotion policy on the real stack: a winner waits, pending, for `mlseam approve` or `reject`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from api_servers import start_api
from event_queue import subscribe_queue

from builders import linear_examples, linear_service
from builders import run_mlseam as mlseam
from mlseam.manifest import load_service
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores


def _approve_service(settings: Settings, stores: Stores, model: str = "EagerModel") -> str:
    """A linear service whose winners wait for approval in the local environment, with examples to fit."""
    name = linear_service(settings.services_dir, model=model, promotion={"local": "approve", "prod": "approve"})
    kind = load_service(name, settings.services_dir).kind
    stores.examples.add(name, kind, linear_examples(60, seed=1), source="t")
    return name


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_winner_waits_pending_until_approved_and_the_approval_is_history(settings: Settings, stores: Stores) -> None:
    # given
    name = _approve_service(settings, stores)
    events = subscribe_queue(settings)
    # when: the first retrain wins
    retrained = mlseam(settings, "retrain", name)
    # then: it is pending, recorded with its reason, and nothing is served
    assert retrained.returncode == 0, retrained.stderr
    assert f"{name} v1 pending: first model: rmse" in retrained.stdout
    assert f"pending approval: `mlseam approve {name} v1`" in retrained.stdout
    assert stores.registry.get_champion(name) is None
    pending = events.wait_for(name, "candidate.pending")
    assert pending["version"] == "v1" and pending["details"] == {"champion_version": None, "champion_revision": 0}
    assert pending["schema"] == "mlseam.event/1" and pending["actor"] == "retrain job"
    overview = mlseam(settings, "status")
    assert any(name in line and "v1" in line and "none" in line for line in overview.stdout.splitlines())
    history = mlseam(settings, "status", name)
    assert f"{name}: v1 pending approval: `mlseam approve {name} v1`" in history.stdout
    # when: an operator approves it
    approved = mlseam(settings, "approve", name, "v1", "--by", "ana")
    # then: the champion moved by a conditional write kept in history, and the version is settled
    assert approved.returncode == 0, approved.stderr
    assert f"{name}: approved, champion is now v1 (revision 1)" in approved.stdout
    (move,) = stores.registry.history(name)
    assert (move.action, move.to_version, move.actor) == ("approve", "v1", "ana")
    record = stores.registry.get_version(name, "v1")
    assert record.status is Status.PROMOTED and record.reason.endswith("; approved by ana")
    moved = events.wait_for(name, "champion.moved")
    assert moved["actor"] == "ana" and moved["details"] == {
        "action": "approve",
        "from_version": None,
        "to_version": "v1",
        "revision": 1,
    }
    assert "pending approval" not in mlseam(settings, "status", name).stdout


def test_a_rejected_version_is_kept_marked_and_never_approved(settings: Settings, stores: Stores) -> None:
    # given
    name = _approve_service(settings, stores)
    events = subscribe_queue(settings)
    assert mlseam(settings, "retrain", name).returncode == 0
    # when
    rejected = mlseam(settings, "reject", name, "v1", "--reason", "trained on the test week", "--by", "ana")
    # then
    assert rejected.returncode == 0, rejected.stderr
    assert f"{name}: v1 rejected" in rejected.stdout
    record = stores.registry.get_version(name, "v1")
    assert record.status is Status.REJECTED
    assert record.reason.startswith("rejected by ana: trained on the test week (was: first model")
    assert events.wait_for(name, "candidate.rejected")["reason"] == "trained on the test week"
    again = mlseam(settings, "approve", name, "v1")
    assert again.returncode == 1
    assert _one_line_error(again) == (
        f"error: {name} v1 is not pending (status rejected); only a pending version can be approved: "
        f"see `mlseam status {name}`"
    )
    assert stores.registry.get_champion(name) is None
    assert "rejected by ana" in mlseam(settings, "status", name).stdout


def test_approving_a_pending_version_that_is_not_the_latest_is_refused(settings: Settings, stores: Stores) -> None:
    # given: two winners, both compared with the same (absent) champion
    name = _approve_service(settings, stores)
    assert mlseam(settings, "retrain", name).returncode == 0
    assert mlseam(settings, "retrain", name, "--force").returncode == 0
    assert [v.status for v in stores.registry.list_versions(name)] == [Status.PENDING, Status.PENDING]
    assert "v2 (+1 older)" in mlseam(settings, "status").stdout
    # when
    older = mlseam(settings, "approve", name, "v1")
    # then: refused, nothing moved; the latest one is approved
    assert older.returncode == 1
    assert _one_line_error(older) == (
        f"error: {name} v1 is not the latest pending version (v2 is, compared more recently); approve v2, or reject v1"
    )
    assert stores.registry.get_champion(name) is None
    assert mlseam(settings, "approve", name, "v2").returncode == 0
    assert stores.registry.get_champion(name).version == "v2"  # type: ignore[union-attr]


def test_approving_a_version_compared_with_a_former_champion_is_refused_as_stale(
    settings: Settings, stores: Stores
) -> None:
    # given: v1 approved; v2 and v3 both compared with it; then v3 promoted by hand
    name = _approve_service(settings, stores)
    assert mlseam(settings, "retrain", name).returncode == 0
    assert mlseam(settings, "approve", name, "v1").returncode == 0
    for _ in range(2):
        assert mlseam(settings, "retrain", name, "--force").returncode == 0
    assert stores.registry.get_version(name, "v2").champion_revision == 1
    promoted = mlseam(settings, "promote", name, "v3", "--reason", "hotfix")
    assert promoted.returncode == 0, promoted.stderr
    assert stores.registry.get_version(name, "v3").status is Status.PROMOTED
    # when: v2, now the latest pending one, is approved
    stale = mlseam(settings, "approve", name, "v2")
    # then: refused, saying what to do; the champion stays v3
    assert stale.returncode == 1
    assert _one_line_error(stale) == (
        f"error: {name} v2 was compared with v1 (revision 1), but the champion is now v3 (revision 2): the "
        f"comparison is stale; retrain (`mlseam retrain {name} --force`) to compare with the current champion, "
        "or reject v2"
    )
    assert stores.registry.get_champion(name).version == "v3"  # type: ignore[union-attr]
    assert stores.registry.get_version(name, "v2").status is Status.PENDING


def test_only_the_environments_the_policy_names_wait_for_approval(settings: Settings, stores: Stores) -> None:
    # given: approve in dev only; this stack is local
    name = linear_service(settings.services_dir, promotion={"dev": "approve"})
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(60, seed=1), source="t")
    # when
    retrained = mlseam(settings, "retrain", name)
    # then: auto, as before
    assert retrained.returncode == 0 and f"{name} v1 promoted: first model" in retrained.stdout


def test_the_api_serves_the_champion_and_shows_the_pending_version_read_only(
    settings: Settings, stores: Stores, tmp_path: Path
) -> None:
    # given: v1 approved, v2 pending
    name = _approve_service(settings, stores)
    assert mlseam(settings, "retrain", name).returncode == 0
    assert mlseam(settings, "approve", name, "v1").returncode == 0
    assert mlseam(settings, "retrain", name, "--force").returncode == 0
    api = start_api(settings, [name], tmp_path)
    try:
        # when
        model = httpx.get(api.url(f"/{name}/v1/model")).json()
        answer = httpx.post(api.url(f"/{name}/v1/predict"), json={"inputs": [{"x1": 1, "x2": 2, "x3": 3}]}).json()
    finally:
        api.stop()
    # then
    assert model["version"] == "v1" and answer["model_version"] == "v1"
    assert model["pending"]["version"] == "v2" and model["pending"]["compared_with"] == "v1"
    assert "pending approval" in model["pending"]["reason"]
