"""What every registry offers: model versions, what was measured of them, and the champion pointer."""

from __future__ import annotations

from typing import Any, Protocol

from mlseam.registry.records import Champion, ChampionEvent, ModelVersion, Status, VersionSummary


class Registry(Protocol):
    """Model versions and the champion pointer of every service."""

    def allocate_version(self, service: str) -> int:
        """A new version number, never handed out before (atomic)."""
        ...

    def create_version(self, record: ModelVersion) -> None:
        """Store a new ``running`` record; refuses to overwrite an existing version."""
        ...

    def update_version(self, record: ModelVersion, *, expected: Status = Status.RUNNING) -> None:
        """Store a new state (progress or outcome) of a record whose stored status is still ``expected``.

        StoreError, and nothing written, when it is not: another writer settled it first.
        """
        ...

    def get_version(self, service: str, version: str) -> ModelVersion:
        """One version, or VersionNotFoundError."""
        ...

    def list_versions(self, service: str) -> list[ModelVersion]:
        """Every version of ``service``, newest first."""
        ...

    def list_version_summaries(self, service: str) -> list[VersionSummary]:
        """Every version of ``service``, newest first, as an overview shows it (a few times faster to read)."""
        ...

    def get_champion(self, service: str) -> Champion | None:
        """The champion pointer, or None before the first promotion."""
        ...

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
        """Point the champion at ``version`` if it is still at ``expected_revision``, with a history event.

        The pointer and the event are written together or not at all; ``actor`` says who moved it.
        ``settles``, a pending version's new record (an approval), is written in the same
        transaction, and only if that version is still ``pending``.

        Raises PromotionConflictError when another writer moved it first; nothing is written then.
        """
        ...

    def record_monitoring(
        self, service: str, version: str, *, live: dict[str, Any] | None = None, drift: dict[str, Any] | None = None
    ) -> None:
        """Attach what ``mlseam monitor`` measured (live quality, drift) to a finished or running version."""
        ...

    def record_signature(self, service: str, version: str, *, sha256: str, signature: str, key_id: str) -> None:
        """Attach a signature to a finished version whose artifact sha256 is still ``sha256`` (``mlseam sign``).

        Raises StoreError, writing nothing, when the version's artifact digest is another.
        """
        ...

    def history(self, service: str) -> list[ChampionEvent]:
        """Every champion move of ``service``, oldest first."""
        ...
