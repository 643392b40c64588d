"""The retrain job: read, split, fit, evaluate candidate and champion on one holdout, store, promote."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlseam.artifacts import ArtifactStore
from mlseam.contract import Model
from mlseam.errors import MlseamError, QualityGateError
from mlseam.events import NO_EVENTS, EventPublisher
from mlseam.examples import ExamplesStore
from mlseam.manifest import PromotionPolicy, Service
from mlseam.registry import Champion, ModelVersion, Registry, Status
from mlseam.registry.records import now_iso
from mlseam.runtime import load_artifact, store_model
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.tasks import Examples
from mlseam.training import gates
from mlseam.training.abandoned import close_abandoned
from mlseam.training.announce import announce_retrain
from mlseam.training.decision import Verdict, champion_overlap_note, judge_candidate, promote_candidate
from mlseam.training.due import candidate_lineage, new_examples, not_due, retrain_trigger
from mlseam.training.lineage import artifact_key, detect_code_version
from mlseam.training.noise import Gain, measure_gain
from mlseam.training.profiling import profile_training_inputs, store_profile
from mlseam.training.split import holdout_digest, holdout_mask

log = logging.getLogger("mlseam.retrain")

EXIT_CODES = {Status.PROMOTED: 0, Status.KEPT: 0, Status.PENDING: 0, Status.REFUSED: 3, Status.FAILED: 4}
"""Process exit code per outcome: 0 means the service has a sound champion."""
EXIT_CHAMPION_UNHEALTHY = 5
"""Exit code when the champion was kept but could not be evaluated: it needs a look (or a rollback)."""


@dataclass(frozen=True)
class Outcome:
    """What a retrain did: the final registry record, a one-line summary, whether the champion failed."""

    record: ModelVersion | None
    """None when there was nothing to fit: no version was added."""
    summary: str
    champion_unhealthy: bool = False

    @property
    def exit_code(self) -> int:
        if self.record is None:
            return 0
        if self.champion_unhealthy:
            return EXIT_CHAMPION_UNHEALTHY
        return EXIT_CODES.get(self.record.status, 4)


class RetrainStopped(Exception):  # noqa: N818 - control flow, never leaves this module
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


class Retrainer:
    """Runs one retrain of one service against the three stores (real or fake)."""

    def __init__(
        self,
        service: Service,
        *,
        examples: ExamplesStore,
        registry: Registry,
        artifacts: ArtifactStore,
        artifacts_prefix: str = "artifacts",
        code_version: str | None = None,
        abandoned_after: timedelta = timedelta(hours=6),
        policy: PromotionPolicy = "auto",
        events: EventPublisher = NO_EVENTS,
    ) -> None:
        self.service = service
        self.examples = examples
        self.registry = registry
        self.artifacts = artifacts
        self.artifacts_prefix = artifacts_prefix
        self.code_version = code_version
        self.abandoned_after = abandoned_after
        self.policy, self.events = policy, events

    @classmethod
    def for_settings(cls, service: Service, stores: Stores, settings: Settings) -> Retrainer:
        """A retrainer on ``stores`` with the artifacts prefix and code version of ``settings``."""
        return cls(
            service,
            examples=stores.examples,
            registry=stores.registry,
            artifacts=stores.artifacts,
            artifacts_prefix=settings.artifacts_prefix,
            code_version=detect_code_version(settings.code_version),
            abandoned_after=timedelta(minutes=settings.retrain_abandoned_after_minutes),
            policy=service.manifest.promotion_policy(settings.environment),
            events=stores.events,
        )

    def run(self, *, force: bool = False) -> Outcome:
        """Retrain once; every fit, failures included, ends as a finished registry record.

        A candidate is fitted only when examples arrived or the model changed since the champion
        was trained (or ``force``); otherwise nothing is fitted and no version is added.
        """
        service, name = self.service, self.service.name
        close_abandoned(self.registry, name, self.abandoned_after)
        record = candidate_lineage(service, self.code_version)
        champion = self.registry.get_champion(name)
        champion_record = self.registry.get_version(name, champion.version) if champion else None
        stats = self.examples.stats(name, service.kind)
        when, higher = service.manifest.retrain_when, service.model_class.higher_is_better
        trigger = retrain_trigger(champion_record, record, stats, force=force, when=when, higher_is_better=higher)
        if trigger is None:
            assert champion_record is not None  # noqa: S101 - with no champion there is always a trigger
            summary = f"{name}: {not_due(champion_record, stats, when, higher)}"
            log.info(summary)
            return Outcome(record=None, summary=summary)
        record.number, record.trigger = self.registry.allocate_version(name), trigger
        self.registry.create_version(record)
        log.info("%s %s: retrain started: %s", name, record.version, trigger)
        champion_unhealthy = False
        try:
            self._train(record, champion, champion_record)
        except RetrainStopped as stop:
            record.status, record.reason = stop.verdict.status, stop.verdict.reason
            champion_unhealthy = stop.verdict.champion_unhealthy
        except QualityGateError as exc:
            record.status, record.reason = Status.REFUSED, str(exc)
        except MlseamError as exc:
            record.status, record.reason = Status.FAILED, str(exc)
        except Exception as exc:
            log.exception("%s %s: retrain failed", service.name, record.version)
            record.status, record.reason = Status.FAILED, f"{type(exc).__name__}: {exc}"
        if champion_record is not None and trigger != new_examples(champion_record, stats):
            record.reason += f" (fitted because {trigger})"  # the unusual triggers only: a changed model, --force
        record.finished_at = record.finished_at or now_iso()
        self.registry.update_version(record)
        announce_retrain(self.events, record, champion)
        summary = f"{service.name} {record.version} {record.status.value}: {record.reason}"
        if record.malformed_rows:
            summary += f" ({record.malformed_rows} malformed or out-of-range example rows skipped)"
        return Outcome(record=record, summary=summary, champion_unhealthy=champion_unhealthy)

    def _train(self, record: ModelVersion, champion: Champion | None, champion_record: ModelVersion | None) -> None:
        train, holdout = self._split(record, self._read(record))
        candidate = self._fit(record, train)
        train_profile = profile_training_inputs(self.service, train)
        del train
        self._evaluate_candidate(record, candidate, holdout)
        champion_problem, note, champion_model = None, "", None
        if champion_record is not None:
            champion_problem, note, champion_model = self._evaluate_champion(record, champion_record, holdout)
        gain, no_gain_why = None, ""
        if champion_model is not None:
            gain, no_gain_why = measure_gain(record, candidate, champion_model, holdout)
        store_profile(record, self.service, train_profile, candidate, holdout, self.artifacts, self.artifacts_prefix)
        self._upload(record, candidate)
        self._decide(record, candidate, champion, champion_problem, note, gain=gain, no_gain_why=no_gain_why)

    def _read(self, record: ModelVersion) -> Examples[Any]:
        """Every valid example, checked to be enough to train on."""
        name = self.service.name
        last_logged = [time.monotonic()]

        def progress(rows: int) -> None:
            if time.monotonic() - last_logged[0] >= 1.0:
                last_logged[0] = time.monotonic()
                log.info("%s: read %d rows so far", name, rows)

        read = self.examples.read(name, self.service.kind, progress=progress)
        data = read.examples
        record.watermark, record.malformed_rows = read.watermark, read.malformed
        record.quarantine_revision = read.quarantine_revision
        record.timings["read_s"] = round(read.seconds, 3)
        log.info(
            "%s: read %d valid rows in %.2fs (%d malformed or out-of-range skipped, %d quarantined, "
            "watermark %d, quarantine revision %d)",
            name,
            len(data),
            read.seconds,
            read.malformed,
            read.quarantined,
            read.watermark,
            read.quarantine_revision,
        )
        gates.check_enough_examples(len(data), self.service.manifest.min_examples)
        return data

    def _split(self, record: ModelVersion, data: Examples[Any]) -> tuple[Examples[Any], Examples[Any]]:
        """(train, holdout) by the stable hash split, checked to leave both sides usable."""
        service = self.service
        mask = holdout_mask(data.ids, service.name, service.manifest.holdout_fraction)
        train, holdout = data.subset(~mask), data.subset(mask)
        record.train_count, record.holdout_count = len(train), len(holdout)
        record.holdout_digest = holdout_digest(holdout.ids)
        gates.check_both_sides(len(train), len(holdout))
        if service.kind.needs_label_variety:
            gates.check_label_variety(train.labels)
        return train, holdout

    def _fit(self, record: ModelVersion, train: Examples[Any]) -> Model:
        name = self.service.name
        candidate = self.service.new_model()
        # said before the fit too: a long fit would otherwise look like a hung job
        log.info("%s: fitting a candidate on %d rows (%d held out)", name, len(train), record.holdout_count)
        started = time.perf_counter()
        try:
            candidate.fit(train)
        except Exception as exc:
            log.debug("%s: candidate fit raised", name, exc_info=True)
            raise gates.refuse_failed_step("fit", exc) from None
        record.timings["fit_s"] = round(time.perf_counter() - started, 3)
        log.info("%s: fit on %d rows in %.2fs", name, len(train), record.timings["fit_s"])
        return candidate

    def _evaluate_candidate(self, record: ModelVersion, candidate: Model, holdout: Examples[Any]) -> None:
        name = self.service.name
        started = time.perf_counter()
        step = "evaluate"
        try:
            record.metrics = gates.check_metrics(candidate.evaluate(holdout), record.primary_metric, who="candidate")
            step = "predict"
            gates.check_served_labels(candidate, holdout, self.service.kind)
        except QualityGateError:
            raise
        except Exception as exc:
            log.debug("%s: candidate %s raised", name, step, exc_info=True)
            raise gates.refuse_failed_step(step, exc) from None
        record.timings["evaluate_s"] = round(time.perf_counter() - started, 3)
        log.info(
            "%s: evaluated candidate on %d holdout rows in %.2fs: %s",
            name,
            len(holdout),
            record.timings["evaluate_s"],
            gates.format_metrics(record.metrics),
        )

    def _evaluate_champion(
        self, record: ModelVersion, champion: ModelVersion, holdout: Examples[Any]
    ) -> tuple[str | None, str, Model | None]:
        """(why the champion could not be evaluated or None, a note on the holdout rows it saw, the model)."""
        name = self.service.name
        record.champion_version = champion.version
        started = time.perf_counter()
        try:
            model = load_artifact(champion, self.artifacts)
            metrics = model.evaluate(holdout)
            record.champion_metrics = gates.check_metrics(metrics, record.primary_metric, who="champion")
        except Exception as exc:  # noqa: BLE001 - recorded, never promoted over
            log.warning("%s: champion %s could not be evaluated: %s", name, champion.version, exc)
            return f"{type(exc).__name__}: {exc}", "", None
        record.timings["evaluate_champion_s"] = round(time.perf_counter() - started, 3)
        log.info(
            "%s: evaluated champion %s on the same holdout in %.2fs: %s",
            name,
            champion.version,
            record.timings["evaluate_champion_s"],
            gates.format_metrics(record.champion_metrics),
        )
        note = champion_overlap_note(champion, holdout.ids, name, self.service.manifest.holdout_fraction)
        return None, note, model

    def _upload(self, record: ModelVersion, candidate: Model) -> None:
        started = time.perf_counter()
        key = artifact_key(self.artifacts_prefix, record.service, record.version)
        stored = store_model(record, candidate, self.artifacts, key)  # signed: only this job may sign
        record.timings["upload_s"] = round(time.perf_counter() - started, 3)
        # Recorded before promotion: a job killed from here on leaves a findable, unpromoted version.
        self.registry.update_version(record)
        log.info("%s: stored %s (%d bytes, sha256 %s)", record.service, stored.key, stored.size, stored.sha256[:12])

    def _decide(
        self,
        record: ModelVersion,
        candidate: Model,
        champion: Champion | None,
        champion_problem: str | None,
        note: str = "",
        *,
        gain: Gain | None = None,
        no_gain_why: str = "",
    ) -> None:
        verdict = judge_candidate(
            record, candidate, champion, champion_problem, note, gain=gain, no_gain_why=no_gain_why
        )
        if verdict.status is Status.PROMOTED:
            verdict = promote_candidate(self.registry, record, champion, verdict.reason, self.policy)
        if verdict.status is not Status.PROMOTED:
            raise RetrainStopped(verdict)
        record.status, record.reason, record.finished_at = Status.PROMOTED, verdict.reason, now_iso()
        log.info("%s: promoted %s (%s)", record.service, record.version, verdict.reason)
