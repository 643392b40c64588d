"""The retrain job: read, split, fit, evaluate candidate and champion on one holdout, store, promote."""

from __future__ import annotations

import logging
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from mlseam.artifacts import ArtifactStore
from mlseam.contract import Model
from mlseam.errors import MlseamError, PromotionConflictError, QualityGateError, StoreError
from mlseam.examples import ExamplesStore
from mlseam.manifest import Service
from mlseam.registry import Champion, ModelVersion, Registry, Status
from mlseam.registry.records import now_iso
from mlseam.runtime import dump_model, load_artifact
from mlseam.settings import REPO_ROOT, Settings
from mlseam.stores import Stores
from mlseam.training import gates
from mlseam.training.split import holdout_digest, holdout_mask

log = logging.getLogger("mlseam.retrain")

EXIT_CODES = {Status.PROMOTED: 0, Status.KEPT: 0, Status.REFUSED: 3, Status.FAILED: 4}
"""Process exit code per outcome: 0 means the service has a sound champion."""
RETRAIN_ACTOR = "retrain job"
"""Who the champion history says moved the champion when a retrain promoted."""
EXIT_CHAMPION_UNHEALTHY = 5
"""Exit code when the champion was kept but could not be evaluated: it needs a look (or a rollback)."""


@dataclass(frozen=True)
class Outcome:
    """What a retrain did: the final registry record, a one-line summary, whether the champion failed."""

    record: ModelVersion
    summary: str
    champion_unhealthy: bool = False

    @property
    def exit_code(self) -> int:
        if self.champion_unhealthy:
            return EXIT_CHAMPION_UNHEALTHY
        return EXIT_CODES.get(self.record.status, 4)


class _Stop(Exception):  # noqa: N818 - control flow, never leaves this module
    def __init__(self, status: Status, reason: str, *, champion_unhealthy: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.champion_unhealthy = champion_unhealthy


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model artifact depends on."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "mlseam"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def detect_code_version(configured: str | None, repo: Path = REPO_ROOT) -> str | None:
    """The git SHA of the code being run: baked into the image, else asked of git, else None.

    From a working tree with uncommitted changes the SHA ends in ``-dirty``: that model was
    trained on code no commit holds.
    """
    if configured:
        return configured
    try:
        result = subprocess.run(
            # the full SHA even where tags exist (--exclude drops them all), -dirty when changed
            ["git", "-C", str(repo), "describe", "--always", "--abbrev=40", "--dirty", "--exclude=*"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def artifact_key(prefix: str, service: str, version: str) -> str:
    """The immutable S3 key of a version's artifact."""
    return f"{prefix}/{service}/{version}/model.pkl"


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
    ) -> None:
        self.service = service
        self.examples = examples
        self.registry = registry
        self.artifacts = artifacts
        self.artifacts_prefix = artifacts_prefix
        self.code_version = code_version
        self.abandoned_after = abandoned_after

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
        )

    def run(self) -> Outcome:
        """Retrain once; every outcome, failures included, ends as a finished registry record."""
        service = self.service
        self._close_abandoned()
        record = ModelVersion(
            service=service.name,
            number=self.registry.allocate_version(service.name),
            primary_metric=service.model_class.primary_metric,
            code_version=self.code_version,
            params=dict(service.model_class.params),
            holdout_fraction=service.manifest.holdout_fraction,
            library_versions=library_versions(),
        )
        self.registry.create_version(record)
        log.info("%s %s: retrain started", service.name, record.version)
        champion_unhealthy = False
        try:
            self._train(record)
        except _Stop as stop:
            record.status, record.reason = stop.status, stop.reason
            champion_unhealthy = stop.champion_unhealthy
        except QualityGateError as exc:
            record.status, record.reason = Status.REFUSED, str(exc)
        except MlseamError as exc:
            record.status, record.reason = Status.FAILED, str(exc)
        except Exception as exc:
            log.exception("%s %s: retrain failed", service.name, record.version)
            record.status, record.reason = Status.FAILED, f"{type(exc).__name__}: {exc}"
        record.finished_at = record.finished_at or now_iso()
        self.registry.update_version(record)
        summary = f"{service.name} {record.version} {record.status.value}: {record.reason}"
        if record.malformed_rows:
            summary += f" ({record.malformed_rows} malformed example rows skipped)"
        return Outcome(record=record, summary=summary, champion_unhealthy=champion_unhealthy)

    def _close_abandoned(self) -> None:
        """Mark as failed the earlier retrains still ``running`` long after they started (their job died).

        The age limit keeps a concurrent retrain that is merely slow from being closed under it; the
        write is conditional on the record still running, so one that finished meanwhile is left alone.
        """
        cutoff = datetime.now(UTC) - self.abandoned_after
        champion = self.registry.get_champion(self.service.name)
        for record in self.registry.list_versions(self.service.name):
            if record.status != Status.RUNNING or datetime.fromisoformat(record.started_at) > cutoff:
                continue
            stopped = f"its retrain stopped before finishing (started {record.started_at[:16].replace('T', ' ')})"
            record.finished_at = now_iso()
            if champion is not None and champion.version == record.version:
                record.status, record.reason = Status.PROMOTED, f"promoted, but {stopped}; recorded by a later retrain"
            else:
                record.status, record.reason = Status.FAILED, f"abandoned: {stopped}; it was never promoted"
            try:
                self.registry.update_version(record)
            except StoreError:
                continue  # it finished (or was closed) meanwhile
            log.warning("%s %s: %s", record.service, record.version, record.reason)

    def _train(self, record: ModelVersion) -> None:
        service, name = self.service, self.service.name
        champion = self.registry.get_champion(name)
        champion_record = self.registry.get_version(name, champion.version) if champion else None

        last_logged = [time.monotonic()]

        def progress(rows: int) -> None:
            if time.monotonic() - last_logged[0] >= 1.0:
                last_logged[0] = time.monotonic()
                log.info("%s: read %d rows so far", name, rows)

        read = self.examples.read(name, service.task, progress=progress)
        data, watermark = read.examples, read.watermark
        record.watermark, record.malformed_rows = read.watermark, read.malformed
        record.timings["read_s"] = round(read.seconds, 3)
        log.info(
            "%s: read %d valid rows in %.2fs (%d malformed skipped, watermark %d)",
            name,
            len(data),
            read.seconds,
            read.malformed,
            read.watermark,
        )
        del read  # `data` is then the rows' only reference, so `del data` below frees them
        if (
            champion_record is not None
            and champion_record.watermark == watermark
            and (champion_record.train_count + champion_record.holdout_count == len(data))
        ):
            raise _Stop(
                Status.KEPT,
                f"no new examples since champion {champion_record.version} (watermark {watermark}); champion kept",
            )
        gates.check_enough_examples(len(data), service.manifest.min_examples)

        mask = holdout_mask(data.ids, name, service.manifest.holdout_fraction)
        train, holdout = data.subset(~mask), data.subset(mask)
        del data
        record.train_count, record.holdout_count = len(train), len(holdout)
        record.holdout_digest = holdout_digest(holdout.ids)
        gates.check_both_sides(len(train), len(holdout))
        if service.task.needs_label_variety:
            gates.check_label_variety(train.labels)

        candidate = service.new_model()
        # said before the fit too: a long fit would otherwise look like a hung job
        log.info("%s: fitting a candidate on %d rows (%d held out)", name, len(train), len(holdout))
        started = time.perf_counter()
        candidate.fit(train)
        record.timings["fit_s"] = round(time.perf_counter() - started, 3)
        log.info("%s: fit on %d rows in %.2fs", name, len(train), record.timings["fit_s"])
        del train

        started = time.perf_counter()
        record.metrics = gates.check_metrics(candidate.evaluate(holdout), record.primary_metric, who="candidate")
        gates.check_served_labels(candidate, holdout, service.task)
        record.timings["evaluate_s"] = round(time.perf_counter() - started, 3)
        log.info(
            "%s: evaluated candidate on %d holdout rows in %.2fs: %s",
            name,
            len(holdout),
            record.timings["evaluate_s"],
            gates.format_metrics(record.metrics),
        )

        champion_problem, note = None, ""
        if champion_record is not None:
            record.champion_version = champion_record.version
            started = time.perf_counter()
            try:
                record.champion_metrics = self._evaluate_champion(champion_record, holdout)
                record.timings["evaluate_champion_s"] = round(time.perf_counter() - started, 3)
                log.info(
                    "%s: evaluated champion %s on the same holdout in %.2fs: %s",
                    name,
                    champion_record.version,
                    record.timings["evaluate_champion_s"],
                    gates.format_metrics(record.champion_metrics),
                )
                note = self._champion_saw(champion_record, holdout.ids)
            except (MlseamError, Exception) as exc:  # noqa: BLE001 - recorded, never promoted over
                champion_problem = f"{type(exc).__name__}: {exc}"
                log.warning("%s: champion %s could not be evaluated: %s", name, champion_record.version, exc)

        self._upload(record, candidate)
        self._decide(record, candidate, champion, champion_problem, note)

    def _champion_saw(self, champion: ModelVersion, holdout_ids: Any) -> str:
        """A note when the champion trained on some of today's holdout rows (the fraction has grown since).

        Raising ``holdout_fraction`` moves rows from train to holdout; the comparison stays on the
        same rows for both models, but the champion has seen some of them, which favours it.
        """
        then, now = champion.holdout_fraction, self.service.manifest.holdout_fraction
        if then is None or then >= now:
            return ""
        ids = np.asarray(holdout_ids)
        seen = int(np.count_nonzero((ids <= champion.watermark) & ~holdout_mask(ids, self.service.name, then)))
        if not seen:
            return ""
        log.warning("%s: champion %s trained on %d of the holdout rows", self.service.name, champion.version, seen)
        return (
            f" (note: champion {champion.version} trained on {seen} of them, as holdout_fraction grew "
            f"from {then} to {now}; that favours the champion)"
        )

    def _evaluate_champion(self, champion: ModelVersion, holdout: Any) -> dict[str, float]:
        model = load_artifact(champion, self.artifacts)
        return gates.check_metrics(model.evaluate(holdout), self.service.model_class.primary_metric, who="champion")

    def _upload(self, record: ModelVersion, candidate: Model) -> None:
        started = time.perf_counter()
        stored = self.artifacts.put(
            artifact_key(self.artifacts_prefix, record.service, record.version), dump_model(candidate)
        )
        record.artifact_key, record.artifact_sha256, record.artifact_size = stored.key, stored.sha256, stored.size
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
    ) -> None:
        primary = record.primary_metric
        score = f"{primary} {record.metrics[primary]:.4f}"
        rows = f"on {record.holdout_count} holdout rows"
        if champion is None:
            reason = f"first model: {score} {rows}"
        elif champion_problem is not None:
            raise _Stop(
                Status.KEPT,
                f"{score} {rows}, but champion {champion.version} could not be evaluated "
                f"({champion_problem}); champion kept, promote by hand if intended",
                champion_unhealthy=True,
            )
        else:
            assert record.champion_metrics is not None  # noqa: S101 - set when no problem
            versus = f"{score} vs champion {champion.version} {record.champion_metrics[primary]:.4f} {rows}{note}"
            if not candidate.is_better(record.metrics, record.champion_metrics):
                raise _Stop(Status.KEPT, f"not better: {versus}; champion kept")
            reason = f"better: {versus}"
        try:
            self.registry.move_champion(
                record.service,
                record.version,
                expected_revision=champion.revision if champion else 0,
                action="promote",
                reason=reason,
                actor=RETRAIN_ACTOR,
            )
        except PromotionConflictError:
            raise _Stop(
                Status.KEPT,
                f"{score} {rows}, but the champion changed during this retrain; "
                "champion kept, retrain again to compare with the new champion",
            ) from None
        record.status, record.reason, record.finished_at = Status.PROMOTED, reason, now_iso()
        log.info("%s: promoted %s (%s)", record.service, record.version, reason)
