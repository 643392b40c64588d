"""Writes a service's version history straight into a registry, for the dashboard's tests and benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlseam.registry import ModelVersion, Registry, Status


def write_history(
    registry: Registry,
    service: str,
    versions: int,
    *,
    metric: str = "rmse",
    start: datetime | None = None,
    reason: str = "",
    actor: str = "retrain job",
) -> list[ModelVersion]:
    """``versions`` finished versions a day apart, every third one promoted, each with its lineage.

    The metric of version n is ``1 / n`` and its live metric ``1 / n + 0.01`` on every other one.
    """
    start = start or datetime.now(UTC) - timedelta(days=versions)
    records = []
    for index in range(versions):
        number = registry.allocate_version(service)
        at = (start + timedelta(days=index)).isoformat(timespec="milliseconds")
        record = ModelVersion(service=service, number=number, started_at=at, primary_metric=metric)
        registry.create_version(record)
        promoted = index % 3 == 0
        record.status = Status.PROMOTED if promoted else Status.KEPT
        record.reason = reason or (f"better by {1 / number:.4f}" if promoted else "not better than the champion")
        record.finished_at = at
        record.metrics = {metric: 1 / number, "mae": 2 / number}
        record.gain = {"delta": 0.01, "low": 0.0, "high": 0.02, "rows": 50}
        record.watermark, record.train_count, record.holdout_count = 100 * number, 80 * number, 20 * number
        record.holdout_digest, record.code_version = f"digest{number}", f"abc{number}"
        record.params, record.library_versions = {"alpha": number}, {"scikit-learn": "1.8.0"}
        registry.update_version(record)
        if index % 2:
            live = {"metrics": {metric: 1 / number + 0.01}, "labelled": 40}
            registry.record_monitoring(service, record.version, live=live)
        if promoted:
            champion = registry.get_champion(service)
            registry.move_champion(
                service,
                record.version,
                expected_revision=champion.revision if champion else 0,
                action="promote",
                reason=record.reason,
                actor=actor,
            )
        records.append(record)
    return records
