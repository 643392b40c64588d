"""Closing retrains whose job died: still ``running`` long after they started."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from mlseam.errors import StoreError
from mlseam.registry import Registry, Status
from mlseam.registry.records import now_iso

log = logging.getLogger("mlseam.retrain")


def close_abandoned(registry: Registry, service: str, abandoned_after: timedelta) -> None:
    """Mark as failed the earlier retrains still ``running`` long after they started (their job died).

    The age limit keeps a concurrent retrain that is merely slow from being closed under it; the
    write is conditional on the record still running, so one that finished meanwhile is left alone.
    """
    cutoff = datetime.now(UTC) - abandoned_after
    champion = registry.get_champion(service)
    for record in registry.list_versions(service):
        if record.status != Status.RUNNING or datetime.fromisoformat(record.started_at) > cutoff:
            continue
        stopped = f"its retrain stopped before finishing (started {record.started_at[:16].replace('T', ' ')})"
        record.finished_at = now_iso()
        if champion is not None and champion.version == record.version:
            record.status, record.reason = Status.PROMOTED, f"promoted, but {stopped}; recorded by a later retrain"
        else:
            record.status, record.reason = Status.FAILED, f"abandoned: {stopped}; it was never promoted"
        try:
            registry.update_version(record)
        except StoreError:
            continue  # it finished (or was closed) meanwhile
        log.warning("%s %s: %s", record.service, record.version, record.reason)
