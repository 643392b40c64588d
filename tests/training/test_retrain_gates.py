"""The retrain job's outcomes and quality gates, on in-memory fakes of the three stores."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from builders import clone_service, linear_examples, linear_service
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.contract import Model
from mlseam.errors import ContractError
from mlseam.examples import InMemoryExamplesStore, LabelledExample
from mlseam.manifest import Service, load_service
from mlseam.registry import InMemoryRegistry, ModelVersion, Status
from mlseam.registry.records import now_iso
from mlseam.training import Retrainer, seed_service
from mlseam.training.lineage import detect_code_version
from mlseam.training.retrain import Outcome
from mlseam.training.split import holdout_mask


class Fakes:
    def __init__(self) -> None:
        self.examples = InMemoryExamplesStore()
        self.registry = InMemoryRegistry()
        self.artifacts = InMemoryArtifactStore()

    def retrain(self, service: Service) -> Outcome:
        return Retrainer(service, examples=self.examples, registry=self.registry, artifacts=self.artifacts).run()


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


def _linear(services_dir: Path, fakes: Fakes, model: str = "LinearModel", rows: int = 100) -> Service:
    service = load_service(linear_service(services_dir, model=model), services_dir)
    fakes.examples.add(service.name, service.kind, linear_examples(rows, seed=1), source="test")
    return service


def _use_model(services_dir: Path, service: Service, model: str) -> None:
    path = services_dir / service.name / "service.yaml"
    path.write_text(path.read_text().replace(f"model.py:{service.model_class.__name__}", f"model.py:{model}"))


def test_the_first_model_is_promoted(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes)
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.PROMOTED and outcome.exit_code == 0
    assert fakes.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]
    assert outcome.summary.startswith(f"{service.name} v1 promoted: first model: rmse")


def test_too_few_examples_are_refused(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes, rows=10)
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.REFUSED and outcome.exit_code == 3
    assert "too few examples: 10 valid, min_examples is 20" in outcome.summary
    assert fakes.registry.get_champion(service.name) is None


def test_a_single_label_class_is_refused(services_dir: Path, fakes: Fakes) -> None:
    service = load_service(clone_service(services_dir, "digits"), services_dir)
    image = [[0.0] * 8 for _ in range(8)]
    rows = [LabelledExample(input=image, label="7", external_id=str(i)) for i in range(300)]
    fakes.examples.add(service.name, service.kind, rows, source="test")
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.REFUSED
    assert "a single label class (7)" in outcome.record.reason


def test_stored_images_with_labels_outside_the_declared_ones_are_skipped(services_dir: Path, fakes: Fakes) -> None:
    service = load_service(clone_service(services_dir, "digits"), services_dir)
    seed_service(service, fakes)  # type: ignore[arg-type]
    blank = [[0.0] * 8 for _ in range(8)]
    for junk in ("cat", "x" * 200, "10", ""):
        fakes.examples.add_raw(service.name, blank, junk)
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.PROMOTED, outcome.record.reason
    assert outcome.record.malformed_rows == 4


def test_nan_metrics_are_refused(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes, model="NanModel")
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.REFUSED
    assert "candidate metric(s) rmse are NaN or infinite" in outcome.record.reason
    assert not fakes.artifacts.objects


def test_a_crash_in_fit_refuses_the_candidate_in_one_line(
    services_dir: Path, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    service = _linear(services_dir, fakes, model="CrashingModel")
    with caplog.at_level(logging.INFO):
        outcome = fakes.retrain(service)
    assert outcome.record.status == Status.REFUSED and outcome.exit_code == 3
    assert outcome.record.reason == "candidate fit raised RuntimeError: boom in fit; the candidate is refused"
    assert fakes.registry.get_version(service.name, "v1").status == Status.REFUSED
    assert not [r for r in caplog.records if r.exc_info], "a traceback reached the log"


def test_a_crash_in_evaluate_refuses_the_candidate_and_leaves_the_champion(
    services_dir: Path, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a champion, then the author ships a model whose evaluate raises on the data
    service = _linear(services_dir, fakes)
    assert fakes.retrain(service).record.status == Status.PROMOTED
    _use_model(services_dir, service, "EvaluateCrashingModel")
    crashing = load_service(service.name, services_dir)
    fakes.examples.add(service.name, service.kind, linear_examples(30, seed=9), source="test")
    # when
    with caplog.at_level(logging.INFO):
        outcome = fakes.retrain(crashing)
    # then: refused in one line, nothing uploaded for it, the champion untouched
    assert outcome.record.status == Status.REFUSED and outcome.exit_code == 3
    assert outcome.record.reason == (
        "candidate evaluate raised ValueError: Input contains NaN.; the candidate is refused"
    )
    assert "\n" not in outcome.summary
    assert not outcome.record.has_artifact
    assert fakes.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]
    assert not [r for r in caplog.records if r.exc_info], "a traceback reached the log"


def test_stored_rows_outside_the_declared_ranges_are_skipped_and_the_retrain_succeeds(
    services_dir: Path, fakes: Fakes
) -> None:
    # given: a service declaring ranges, and absurd rows written past the API (or before the ranges)
    service = load_service(clone_service(services_dir, "diabetes"), services_dir)
    seed_service(service, fakes)  # type: ignore[arg-type]
    inside = dict.fromkeys(service.kind.features, 0.01)  # type: ignore[attr-defined]
    fakes.examples.add_raw(service.name, {**inside, "bmi": 1e8}, 150.0)
    fakes.examples.add_raw(service.name, {**inside, "s3": -9e8}, 150.0)
    fakes.examples.add_raw(service.name, inside, -9e8)
    fakes.examples.add_raw(service.name, inside, 1e8)
    # when
    outcome = fakes.retrain(service)
    # then
    assert outcome.record.status == Status.PROMOTED, outcome.record.reason
    assert outcome.record.malformed_rows == 4
    assert outcome.record.train_count + outcome.record.holdout_count == 442
    assert outcome.summary.endswith("(4 malformed or out-of-range example rows skipped)")


def test_malformed_rows_are_skipped_and_counted(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes)
    fakes.examples.add_raw(service.name, {"x1": 1.0}, 2.0)
    fakes.examples.add_raw(service.name, "not an object", 2.0)
    fakes.examples.add_raw(service.name, {"x1": 1.0, "x2": 1.0, "x3": 1.0}, "NaN-ish")
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.PROMOTED
    assert outcome.record.malformed_rows == 3
    assert outcome.record.train_count + outcome.record.holdout_count == 100
    assert outcome.summary.endswith("(3 malformed or out-of-range example rows skipped)")


def test_a_stubborn_rule_keeps_the_champion(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes, model="StubbornModel")
    assert fakes.retrain(service).record.status == Status.PROMOTED
    fakes.examples.add(service.name, service.kind, linear_examples(50, seed=2), source="test")
    outcome = fakes.retrain(service)
    assert outcome.record.status == Status.KEPT and outcome.exit_code == 0
    assert outcome.record.reason.startswith("not better: rmse")
    assert fakes.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]


def test_lineage_is_recorded(services_dir: Path, fakes: Fakes) -> None:
    service = _linear(services_dir, fakes)
    record = fakes.retrain(service).record
    assert record.library_versions["scikit-learn"] != "unknown"
    assert set(record.library_versions) >= {"python", "numpy", "scikit-learn"}
    assert record.watermark == 100 and record.holdout_digest and record.artifact_sha256
    assert record.artifact_size == len(fakes.artifacts.objects[record.artifact_key])  # type: ignore[index]
    assert {"read_s", "fit_s", "evaluate_s", "upload_s"} <= set(record.timings)


CONTRARY = '''

class ContraryModel(DigitsModel):
    """Its predict picks the least probable digit: not what the API would answer."""

    def predict(self, inputs):
        probabilities = self.predict_proba(inputs)
        return [self.classes[j] for j in probabilities.argmin(axis=1)]


class ShapelessModel(DigitsModel):
    """Its predict_proba drops a column."""

    def predict_proba(self, inputs):
        return super().predict_proba(inputs)[:, 1:]
'''


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("DigitsModel", None),
        ("ContraryModel", "predict and predict_proba disagree on"),
        ("ShapelessModel", "candidate predictions are unusable: predict_proba returned shape"),
    ],
)
def test_a_classifier_must_serve_what_it_was_scored_on(
    services_dir: Path, fakes: Fakes, model: str, message: str | None
) -> None:
    # given: the digits service, its model possibly replaced by a variant
    name = clone_service(services_dir, "digits")
    with (services_dir / name / "model.py").open("a") as source:
        source.write(CONTRARY)
    manifest = services_dir / name / "service.yaml"
    manifest.write_text(manifest.read_text().replace("model.py:DigitsModel", f"model.py:{model}"))
    service = load_service(name, services_dir)
    seed_service(service, fakes)  # type: ignore[arg-type]
    # when
    outcome = fakes.retrain(service)
    # then: only a model whose predict is its most probable class becomes champion
    if message is None:
        assert outcome.record.status == Status.PROMOTED, outcome.summary
    else:
        assert outcome.record.status == Status.REFUSED and outcome.exit_code == 3
        assert message in outcome.summary
        assert fakes.registry.get_champion(service.name) is None


def test_a_retrain_that_loses_a_promotion_race_keeps_the_winner(services_dir: Path, fakes: Fakes) -> None:
    # given: a champion v1 and new data
    service = _linear(services_dir, fakes)
    assert fakes.retrain(service).record.status == Status.PROMOTED
    fakes.examples.add(service.name, service.kind, linear_examples(300, seed=3), source="test")
    # ... and someone promotes v1 again (a new revision) while the candidate is being uploaded
    registry, upload = fakes.registry, Retrainer._upload

    def upload_then_race(self: Retrainer, record: ModelVersion, candidate: Model) -> None:
        upload(self, record, candidate)
        champion = registry.get_champion(service.name)
        assert champion is not None
        registry.move_champion(
            service.name, "v1", expected_revision=champion.revision, action="promote", reason="by hand"
        )

    # when
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Retrainer, "_upload", upload_then_race)
        patch.setattr(service.model_class, "is_better", lambda self, candidate, champion: True)
        outcome = fakes.retrain(service)

    # then: the candidate is kept with its reason, the hand promotion stands, history is consistent
    assert outcome.record.status == Status.KEPT and outcome.exit_code == 0
    assert "the champion changed during this retrain" in outcome.record.reason
    assert registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]
    assert [(e.action, e.to_version) for e in registry.history(service.name)] == [
        ("promote", "v1"),
        ("promote", "v1"),
    ]
    assert registry.get_version(service.name, "v2").status == Status.KEPT


def _stuck(fakes: Fakes, service: Service, started_at: str) -> ModelVersion:
    record = ModelVersion(service=service.name, number=fakes.registry.allocate_version(service.name))
    record.started_at = started_at
    fakes.registry.create_version(record)
    return record


def test_a_retrain_closes_earlier_ones_that_died_running(services_dir: Path, fakes: Fakes) -> None:
    # given: a retrain that died a day ago, one that died after promoting, and one started a minute ago
    service = _linear(services_dir, fakes)
    dead = _stuck(fakes, service, "2026-01-01T03:00:00.000+00:00")
    promoted = _stuck(fakes, service, "2026-01-02T03:00:00.000+00:00")
    fakes.registry.move_champion(service.name, promoted.version, expected_revision=0, action="promote", reason="r")
    recent = _stuck(fakes, service, now_iso())
    # when
    outcome = fakes.retrain(service)
    # then: the dead ones are closed as what they became; the recent one may still be working
    assert outcome.record.number == 4
    closed = fakes.registry.get_version(service.name, dead.version)
    assert closed.status == Status.FAILED and "abandoned: its retrain stopped before finishing" in closed.reason
    assert "started 2026-01-01 03:00" in closed.reason and closed.finished_at
    assert fakes.registry.get_version(service.name, promoted.version).status == Status.PROMOTED
    assert fakes.registry.get_version(service.name, recent.version).status == Status.RUNNING


def test_the_code_version_is_the_configured_one_else_gits_sha_marked_dirty(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    assert detect_code_version(None, tmp_path) is None  # not a git working tree
    git("init", "-q")
    (tmp_path / "model.py").write_text("A = 1\n")
    git("add", "model.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    git("tag", "v1.0")
    sha = git("rev-parse", "HEAD")
    assert len(sha) == 40
    assert detect_code_version(None, tmp_path) == sha
    (tmp_path / "model.py").write_text("A = 2\n")
    assert detect_code_version(None, tmp_path) == f"{sha}-dirty"
    assert detect_code_version("0123abc", tmp_path) == "0123abc"


def test_a_seed_that_raises_is_one_line_naming_it(services_dir: Path, fakes: Fakes) -> None:
    name = clone_service(services_dir, "diabetes")
    (services_dir / name / "seed.py").write_text(
        "def demo_examples():\n    yield from ()\n    raise ValueError('cannot open data.csv')\n"
    )
    service = load_service(name, services_dir)
    with pytest.raises(ContractError) as caught:
        seed_service(service, fakes)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "seed.py (seed.py:demo_examples) raised ValueError: cannot open data.csv" in message
    assert message.endswith("it must yield (input, label) pairs") and "\n" not in message


def test_a_grown_holdout_fraction_is_flagged_in_the_comparison(services_dir: Path, fakes: Fakes) -> None:
    # given: champion v1 trained with holdout_fraction 0.25
    service = _linear(services_dir, fakes, model="StubbornModel", rows=200)
    assert fakes.retrain(service).record.holdout_fraction == 0.25
    # when: the fraction grows to 0.45 and the job runs on more data
    path = services_dir / service.name / "service.yaml"
    path.write_text(path.read_text().replace("holdout_fraction: 0.25", "holdout_fraction: 0.45"))
    grown = load_service(service.name, services_dir)
    fakes.examples.add(service.name, grown.kind, linear_examples(100, seed=2), source="test")
    outcome = fakes.retrain(grown)
    # then: the reason says how many of the shared holdout rows the champion trained on
    ids = fakes.examples.read(service.name, grown.kind).examples.ids
    moved = holdout_mask(ids, service.name, 0.45) & ~holdout_mask(ids, service.name, 0.25) & (ids <= 200)
    assert moved.any()
    assert outcome.record.status == Status.KEPT
    assert f"(note: champion v1 trained on {int(moved.sum())} of them, as holdout_fraction grew from 0.25 to 0.45" in (
        outcome.record.reason
    )
    # and a fraction that shrinks back needs no note: the champion never saw the smaller holdout
    path.write_text(path.read_text().replace("holdout_fraction: 0.45", "holdout_fraction: 0.25"))
    fakes.examples.add(service.name, grown.kind, linear_examples(100, seed=3), source="test")
    assert "note:" not in fakes.retrain(load_service(service.name, services_dir)).record.reason
