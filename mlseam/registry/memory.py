"""An in-memory registry with the DynamoDB registry's semantics, for unit tests."""

from __future__ import annotations

import copy
import threading
from typing import Any

from mlseam.errors import PromotionConflictError, StoreError, VersionNotFoundError
from mlseam.registry.records import (
    Champion,
    ChampionEvent,
    ModelVersion,
    Status,
    VersionSummary,
    now_iso,
    summarize,
    version_number,
)


class InMemoryRegistry:
    """Registry fake: same conditional rules, kept in dicts behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._versions: dict[tuple[str, int], ModelVersion] = {}
        self._champions: dict[str, Champion] = {}
        self._events: dict[str, list[ChampionEvent]] = {}

    def allocate_version(self, service: str) -> int:
        with self._lock:
            self._counters[service] = self._counters.get(service, 0) + 1
            return self._counters[service]

    def create_version(self, record: ModelVersion) -> None:
        with self._lock:
            key = (record.service, record.number)
            if key in self._versions:
                raise StoreError(f"{record.service} {record.version} already exists; registry left as it was")
            self._versions[key] = copy.deepcopy(record)

    def update_version(self, record: ModelVersion, *, expected: Status = Status.RUNNING) -> None:
        with self._lock:
            self._check_status(record, expected)
            self._versions[(record.service, record.number)] = copy.deepcopy(record)

    def _check_status(self, record: ModelVersion, expected: Status) -> None:
        key = (record.service, record.number)
        if key not in self._versions or self._versions[key].status != expected:
            raise StoreError(
                f"{record.service} {record.version} is no longer {expected.value}; registry left as it was"
            )

    def get_version(self, service: str, version: str) -> ModelVersion:
        number = version_number(version)
        if number is None:
            raise VersionNotFoundError(f"{version!r} is not a version name; versions look like v7")
        with self._lock:
            found = self._versions.get((service, number))
            if found is None:
                raise VersionNotFoundError(f"{service} has no version {version}; see `mlseam status {service}`")
            return copy.deepcopy(found)

    def record_monitoring(
        self, service: str, version: str, *, live: dict[str, Any] | None = None, drift: dict[str, Any] | None = None
    ) -> None:
        number = version_number(version)
        with self._lock:
            found = self._versions.get((service, number or 0))
            if found is None:
                raise VersionNotFoundError(f"{service} has no version {version}; see `mlseam status {service}`")
            if live is not None:
                found.live = copy.deepcopy(live)
            if drift is not None:
                found.drift = copy.deepcopy(drift)

    def record_signature(self, service: str, version: str, *, sha256: str, signature: str, key_id: str) -> None:
        with self._lock:
            found = self._versions.get((service, version_number(version) or 0))
            if found is None:
                raise VersionNotFoundError(f"{service} has no version {version}; see `mlseam status {service}`")
            if found.artifact_sha256 != sha256:
                raise StoreError(f"{service} {version}: its artifact is no longer {sha256[:12]}...; nothing signed")
            found.artifact_signature, found.artifact_signing_key = signature, key_id

    def list_versions(self, service: str) -> list[ModelVersion]:
        with self._lock:
            found = [copy.deepcopy(v) for (s, _), v in self._versions.items() if s == service]
        return sorted(found, key=lambda v: v.number, reverse=True)

    def list_version_summaries(self, service: str) -> list[VersionSummary]:
        return [summarize(record) for record in self.list_versions(service)]

    def get_champion(self, service: str) -> Champion | None:
        with self._lock:
            return self._champions.get(service)

    def move_champion(
        self,
        service: str,
        version: str,
        *,
        expected_revision: int,
        action: str,
        reason: str,
        actor: str = "",
        settles: ModelVersion | None = None,
    ) -> Champion:
        with self._lock:
            current = self._champions.get(service)
            if (current.revision if current else 0) != expected_revision:
                raise PromotionConflictError(
                    f"{service}: the champion changed while {version} was being promoted; re-read and retry"
                )
            if settles is not None:
                try:
                    self._check_status(settles, Status.PENDING)
                except StoreError:
                    raise PromotionConflictError(
                        f"{service} {settles.version} is no longer pending; see `mlseam status {service}`"
                    ) from None
                self._versions[(settles.service, settles.number)] = copy.deepcopy(settles)
            at = now_iso()
            champion = Champion(service, version, expected_revision + 1, at, reason)
            self._champions[service] = champion
            self._events.setdefault(service, []).append(
                ChampionEvent(
                    service, champion.revision, action, current.version if current else None, version, at, reason, actor
                )
            )
            return champion

    def history(self, service: str) -> list[ChampionEvent]:
        with self._lock:
            return list(self._events.get(service, []))
