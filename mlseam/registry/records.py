"""What the registry keeps: model versions, the champion pointer and its history."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import msgspec


class Status(StrEnum):
    """Outcome of one retrain attempt."""

    RUNNING = "running"  # started; a record left here means the job died before finishing
    PROMOTED = "promoted"  # became champion
    KEPT = "kept"  # valid, but the champion stayed (not better, or nothing new to learn)
    PENDING = "pending"  # won under an `approve` policy: waits for `mlseam approve` or `mlseam reject`
    REJECTED = "rejected"  # a pending version an operator turned down; never served
    REFUSED = "refused"  # a quality gate refused the data or the candidate
    FAILED = "failed"  # an error stopped the attempt


def now_iso() -> str:
    """The current UTC time as an ISO-8601 string with seconds precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def version_name(number: int) -> str:
    """The user-facing name of version ``number`` (``v7``)."""
    return f"v{number}"


def version_number(name: str) -> int | None:
    """``7`` for ``"v7"`` or ``"7"``; None when ``name`` is not a version name."""
    digits = name[1:] if name[:1] in ("v", "V") else name
    return int(digits) if digits.isdigit() else None


@dataclass
class ModelVersion:
    """One retrain attempt and, when it produced one, the model version it stored."""

    service: str
    number: int
    status: Status = Status.RUNNING
    reason: str = ""
    started_at: str = field(default_factory=now_iso)
    finished_at: str | None = None
    primary_metric: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None
    champion_revision: int | None = None  # the champion pointer's revision it was compared with (0: none yet)
    gain: dict[str, float] | None = None  # candidate minus champion on the primary metric: delta, low, high, rows
    watermark: int = 0
    quarantine_revision: int = 0  # the examples quarantine revision it was read with: with watermark, its data
    train_count: int = 0
    holdout_count: int = 0
    holdout_digest: str = ""
    holdout_fraction: float | None = None  # the manifest's, when this version was trained
    malformed_rows: int = 0
    code_version: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    source_sha256: str | None = None  # of the model class's source file, when this version was trained
    trigger: str = ""  # why a candidate was fitted: new examples, a changed model, --force
    library_versions: dict[str, str] = field(default_factory=dict)
    artifact_key: str | None = None
    artifact_sha256: str | None = None
    artifact_size: int | None = None
    artifact_signature: str | None = None  # base64 signature of artifact_sha256 by the signing key (KMS)
    artifact_signing_key: str | None = None  # ARN of the key that made it
    profile_key: str | None = None  # the drift profile's artifact (training inputs, holdout outputs), if any
    profile_sha256: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    live: dict[str, Any] | None = None  # its quality on labelled live predictions, from `mlseam monitor`
    drift: dict[str, Any] | None = None  # live inputs against its training profile, from `mlseam monitor`

    @property
    def version(self) -> str:
        return version_name(self.number)

    @property
    def has_artifact(self) -> bool:
        return self.artifact_key is not None and self.artifact_sha256 is not None

    def to_json(self) -> str:
        """The record as JSON; non-finite floats are written as strings so JSON stays valid."""
        data = dataclasses.asdict(self)
        for key in ("metrics", "champion_metrics"):
            if data[key] is not None:
                data[key] = {k: v if math.isfinite(v) else str(v) for k, v in data[key].items()}
        return json.dumps(data, default=str, allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelVersion:
        """The record ``to_json`` wrote, by this or an older mlseam (fields it no longer has are dropped).

        msgspec decodes straight into the dataclass, several times faster than ``json.loads`` and
        ``__init__``, which an overview of thousands of versions needs. It checks the types as it
        goes; a record it refuses (e.g. an older writer's ``NaN`` token) is read as before.
        """
        try:
            return _RECORD.decode(text)
        except msgspec.DecodeError:
            return cls._from_loose_json(text)

    @classmethod
    def _from_loose_json(cls, text: str) -> ModelVersion:
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["status"] = Status(data["status"])
        for key in ("metrics", "champion_metrics"):
            if data.get(key) is not None:
                data[key] = {k: float(v) for k, v in data[key].items()}
        return cls(**data)


class VersionSummary(msgspec.Struct):
    """What an overview shows of a version: outcome, metrics, examples read, code version; no lineage.

    Read from the same stored record as its ModelVersion (the fields it leaves out are skipped
    unparsed), so it never disagrees with it.
    """

    service: str
    number: int
    status: Status = Status.RUNNING
    reason: str = ""
    started_at: str = msgspec.field(default_factory=now_iso)
    finished_at: str | None = None
    primary_metric: str = ""
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    gain: dict[str, float] | None = None
    train_count: int = 0
    holdout_count: int = 0
    code_version: str | None = None
    live: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None

    @property
    def version(self) -> str:
        return version_name(self.number)

    @classmethod
    def from_json(cls, text: str) -> VersionSummary:
        """The summary of a record ``ModelVersion.to_json`` wrote; one msgspec refuses is read in full first."""
        try:
            return _SUMMARY.decode(text)
        except msgspec.DecodeError:
            return summarize(ModelVersion.from_json(text))


def summarize(record: ModelVersion) -> VersionSummary:
    """The summary of a full record."""
    return VersionSummary(**{name: getattr(record, name) for name in VersionSummary.__struct_fields__})


# strict=False: the non-finite metrics to_json writes as strings ("nan") become floats again.
_RECORD = msgspec.json.Decoder(ModelVersion, strict=False)
_SUMMARY = msgspec.json.Decoder(VersionSummary, strict=False)


@dataclass(frozen=True)
class Champion:
    """The pointer to the version that serves; only a conditional write moves it."""

    service: str
    version: str
    revision: int
    since: str
    reason: str


@dataclass(frozen=True)
class ChampionEvent:
    """One move of the champion pointer, kept forever: what, when, why and by whom."""

    service: str
    revision: int
    action: str  # "promote", "approve" or "rollback"
    from_version: str | None
    to_version: str
    at: str
    reason: str
    actor: str = ""  # who moved it: "retrain job", or user@host (or --by) of a promote, approve or rollback


def latest_pending(versions: list[ModelVersion]) -> ModelVersion | None:
    """The newest version still waiting for approval (the one ``mlseam approve`` takes), or None."""
    pending = [record for record in versions if record.status is Status.PENDING]
    return max(pending, key=lambda record: record.number, default=None)
