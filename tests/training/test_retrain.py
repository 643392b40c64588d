"""The retrain job on the real local stack: PostgreSQL, DynamoDB and S3 through the emulator."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import psycopg2
import psycopg2.extras
import pytest

from builders import clone_service, linear_examples, linear_service, stack_env
from mlseam.artifacts import S3ArtifactStore
from mlseam.examples import Action, Selection
from mlseam.manifest import Service, load_service
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer, seed_service
from mlseam.training.retrain import Outcome


def _retrain(service: Service, stores: Stores, abandoned_after: timedelta = timedelta(hours=6)) -> Outcome:
    return Retrainer(
        service,
        examples=stores.examples,
        registry=stores.registry,
        artifacts=stores.artifacts,
        abandoned_after=abandoned_after,
    ).run()


def test_more_data_promotes_only_when_better_on_one_shared_holdout(settings: Settings, stores: Stores) -> None:
    # given: a champion trained on rows whose targets are noise
    service = load_service(linear_service(settings.services_dir), settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(60, seed=1, garbage=True), source="t")
    assert _retrain(service, stores).record.status == Status.PROMOTED

    # when: clean examples arrive and the job runs again
    stores.examples.add(service.name, service.kind, linear_examples(2000, seed=2), source="t")
    outcome = _retrain(service, stores)

    # then: the better candidate is promoted, both scored on the very same holdout rows
    record = outcome.record
    assert record.status == Status.PROMOTED, record.reason
    assert record.champion_version == "v1" and record.champion_metrics is not None
    assert record.metrics["rmse"] < record.champion_metrics["rmse"]
    assert record.metrics["rows"] == record.champion_metrics["rows"] == record.holdout_count
    assert record.metrics["id_sum"] == record.champion_metrics["id_sum"]
    assert stores.registry.get_champion(service.name).version == "v2"  # type: ignore[union-attr]

    # and when the author ships a worse model, the champion is kept
    path = settings.services_dir / service.name / "service.yaml"
    path.write_text(path.read_text().replace("model.py:LinearModel", "model.py:FarOffModel"))
    worse_service = load_service(service.name, settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(50, seed=3), source="t")
    worse = _retrain(worse_service, stores).record
    assert worse.status == Status.KEPT, worse.reason
    assert worse.metrics["rmse"] > worse.champion_metrics["rmse"]  # type: ignore[index]
    assert worse.reason.startswith("not better: rmse")
    assert stores.registry.get_champion(service.name).version == "v2"  # type: ignore[union-attr]


def test_with_no_new_data_and_an_unchanged_model_nothing_is_fitted_and_no_version_added(
    settings: Settings, stores: Stores
) -> None:
    service = load_service(clone_service(settings.services_dir, "diabetes"), settings.services_dir)
    seed_service(service, stores)
    assert _retrain(service, stores).record.status == Status.PROMOTED  # type: ignore[union-attr]
    outcome = _retrain(service, stores)
    assert outcome.record is None and outcome.exit_code == 0
    assert "nothing to fit: no new examples since champion v1 (watermark" in outcome.summary
    assert [v.status for v in stores.registry.list_versions(service.name)] == [Status.PROMOTED]


def test_a_params_change_alone_makes_the_next_retrain_fit_a_candidate(
    settings: Settings, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a champion, and no example added since
    service = load_service(clone_service(settings.services_dir, "diabetes"), settings.services_dir)
    seed_service(service, stores)
    assert _retrain(service, stores).record.status == Status.PROMOTED  # type: ignore[union-attr]

    # when: the author changes params only
    monkeypatch.setattr(service.model_class, "params", {"alphas": [0.1, 1.0]})
    outcome = _retrain(service, stores)

    # then: a candidate is fitted, and the reason says what changed
    record = outcome.record
    assert record is not None and record.status in (Status.PROMOTED, Status.KEPT), outcome.summary
    assert record.trigger == "params changed (alphas: [0.01, 0.1, 1.0, 10.0, 100.0] -> [0.1, 1.0])"
    assert record.reason.endswith(f"(fitted because {record.trigger})")
    assert record.params == {"alphas": [0.1, 1.0]}


def test_an_edited_model_file_makes_the_next_retrain_fit_a_candidate(settings: Settings, stores: Stores) -> None:
    name = clone_service(settings.services_dir, "diabetes")
    service = load_service(name, settings.services_dir)
    seed_service(service, stores)
    assert _retrain(service, stores).record.source_sha256  # type: ignore[union-attr]
    model = settings.services_dir / name / "model.py"
    model.write_text(model.read_text() + "\n# tuned by hand\n")
    outcome = _retrain(service, stores)
    assert outcome.record is not None and outcome.record.trigger == "the model's source file changed"


def test_force_fits_a_candidate_when_nothing_changed(settings: Settings, stores: Stores) -> None:
    service = load_service(clone_service(settings.services_dir, "diabetes"), settings.services_dir)
    seed_service(service, stores)
    _retrain(service, stores)
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run(
        force=True
    )
    assert outcome.record is not None and outcome.record.version == "v2"
    assert outcome.record.status == Status.KEPT and outcome.record.trigger == "forced (mlseam retrain --force)"
    assert "not better" in outcome.record.reason


def test_absurd_stored_rows_are_skipped_and_the_retrain_succeeds(settings: Settings, stores: Stores) -> None:
    # given: the demo data plus finite but absurd rows written straight into the table
    service = load_service(clone_service(settings.services_dir, "diabetes"), settings.services_dir)
    seed_service(service, stores)
    inside = dict.fromkeys(service.kind.features, 0.01)  # type: ignore[attr-defined]
    junk = [({**inside, "bmi": 1e8}, 150.0), ({**inside, "s1": -9e8}, 150.0), (inside, -9e8), (inside, 1e8)]
    with psycopg2.connect(settings.dsn) as conn, conn.cursor() as cur:
        for number, (features, label) in enumerate(junk):
            cur.execute(
                f"INSERT INTO {service.kind.table} (service, external_id, input, label, source) "
                "VALUES (%s, %s, %s, %s, 'raw')",
                (service.name, f"junk-{number}", psycopg2.extras.Json(features), label),
            )
    conn.close()
    # when
    outcome = _retrain(service, stores)
    # then: promoted on the demo rows alone, the absurd ones counted in the summary
    assert outcome.record.status == Status.PROMOTED and outcome.exit_code == 0, outcome.record.reason
    assert outcome.record.train_count + outcome.record.holdout_count == 442
    assert outcome.summary.endswith("(4 malformed or out-of-range example rows skipped)")


def test_a_tampered_champion_is_never_loaded(settings: Settings, stores: Stores) -> None:
    # given: a champion whose artifact is rewritten behind the registry's back
    service = load_service(linear_service(settings.services_dir), settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(100, seed=4), source="t")
    champion = _retrain(service, stores).record
    assert isinstance(stores.artifacts, S3ArtifactStore) and champion.artifact_key
    stores.artifacts.client.put_object(Bucket=settings.artifacts_bucket, Key=champion.artifact_key, Body=b"evil")
    # when
    stores.examples.add(service.name, service.kind, linear_examples(100, seed=5), source="t")
    outcome = _retrain(service, stores)
    # then: the champion is not evaluated from the tampered bytes and is not replaced blindly
    assert outcome.record.status == Status.KEPT
    assert "ArtifactIntegrityError" in outcome.record.reason and "refusing to load it" in outcome.record.reason
    assert outcome.record.champion_metrics is None
    # and the job says the champion needs a look, so a scheduled run shows as failed
    assert outcome.exit_code == 5


KILL_BEFORE_PROMOTION = """
import os, signal, sys
from mlseam.cli import main
from mlseam.contract import Model
from mlseam.registry import DynamoRegistry

def die(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

DynamoRegistry.move_champion = die
Model.is_better = lambda self, candidate, champion: True  # always reach the champion move
sys.argv = ["mlseam", "retrain", sys.argv[1]]
main()
"""


def test_a_retrain_killed_between_upload_and_promotion_leaves_a_consistent_registry(
    settings: Settings, stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a champion, then new data; every candidate wins, so each retrain reaches the champion move
    service = load_service(linear_service(settings.services_dir), settings.services_dir)
    monkeypatch.setattr(service.model_class, "is_better", lambda self, candidate, champion: True)
    stores.examples.add(service.name, service.kind, linear_examples(80, seed=6, garbage=True), source="t")
    assert _retrain(service, stores).record.status == Status.PROMOTED
    stores.examples.add(service.name, service.kind, linear_examples(300, seed=7), source="t")
    script = tmp_path / "killed_retrain.py"
    script.write_text(textwrap.dedent(KILL_BEFORE_PROMOTION))

    # when: the process is SIGKILLed at the moment it would move the champion
    killed = subprocess.run(
        [sys.executable, str(script), service.name],
        env=stack_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then: the champion did not move; the half-done version is findable with its artifact
    assert killed.returncode == -9, killed.stderr
    assert stores.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]
    orphan = stores.registry.get_version(service.name, "v2")
    assert orphan.status == Status.RUNNING and orphan.has_artifact
    assert [e.to_version for e in stores.registry.history(service.name)] == ["v1"]

    # and the next retrain succeeds on a fresh version number, closing the dead one as never promoted
    outcome = _retrain(service, stores, abandoned_after=timedelta(0))
    assert outcome.record.number == 3 and outcome.record.status == Status.PROMOTED, outcome.record.reason
    assert [e.to_version for e in stores.registry.history(service.name)] == ["v1", "v3"]
    closed = stores.registry.get_version(service.name, "v2")
    assert closed.status == Status.FAILED and closed.finished_at
    assert (
        closed.reason.startswith("abandoned: its retrain stopped before finishing")
        and "never promoted" in closed.reason
    )


def test_a_model_that_fails_on_the_data_is_refused_in_one_line_without_a_traceback(
    settings: Settings, stores: Stores
) -> None:
    # given: a champion, then a model whose evaluate raises on the examples
    service = load_service(linear_service(settings.services_dir), settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(100, seed=10), source="t")
    assert _retrain(service, stores).record.status == Status.PROMOTED
    path = settings.services_dir / service.name / "service.yaml"
    path.write_text(path.read_text().replace("model.py:LinearModel", "model.py:EvaluateCrashingModel"))
    stores.examples.add(service.name, service.kind, linear_examples(40, seed=11), source="t")

    # when: the scheduled command runs
    result = subprocess.run(
        [sys.executable, "-m", "mlseam.cli", "retrain", service.name],
        env=stack_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then: a quality-gate refusal, said in one line, the champion as it was
    assert result.returncode == 3, result.stderr
    reason = "candidate evaluate raised ValueError: Input contains NaN.; the candidate is refused"
    assert result.stdout.strip().splitlines() == [f"{service.name} v2 refused: {reason}"]
    assert "Traceback" not in result.stderr
    assert stores.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]
    assert not stores.registry.get_version(service.name, "v2").has_artifact


def test_a_retrain_after_a_quarantine_leaves_its_rows_out_and_records_the_revision(
    settings: Settings, stores: Stores
) -> None:
    # given: a champion trained on every seeded example
    service = load_service(clone_service(settings.services_dir, "diabetes"), settings.services_dir)
    seed_service(service, stores)
    first = _retrain(service, stores).record
    assert first is not None and first.quarantine_revision == 0
    ids = stores.examples.read(service.name, service.kind).examples.ids
    # when: fifty of its rows are quarantined and the service retrained
    held = Selection(id_from=int(ids[0]), id_to=int(ids[49]))
    event = stores.examples.apply_quarantine(service.name, service.kind, held, Action.QUARANTINE, actor="t", reason="r")
    assert event is not None and event.rows == 50
    outcome = _retrain(service, stores)
    # then: the quarantine alone was reason to fit, the rows were left out, and both versions' data reproduce
    second = stores.registry.get_version(service.name, "v2")
    assert outcome.record is not None and "examples quarantined or released" in outcome.record.trigger
    assert second.quarantine_revision == event.revision
    assert (first.train_count + first.holdout_count, second.train_count + second.holdout_count) == (442, 392)
    for version in (first, second):
        again = stores.examples.read(
            service.name, service.kind, watermark=version.watermark, quarantine_revision=version.quarantine_revision
        )
        assert len(again.examples) == version.train_count + version.holdout_count
