"""How a version item of the registry's table is read: its record's JSON and, beside it, the monitor's attributes."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import msgspec

from mlseam.registry.records import ModelVersion, VersionSummary

_Read = TypeVar("_Read", ModelVersion, VersionSummary)


def version_of(item: dict[str, Any]) -> ModelVersion:
    """A version item's record, with what the monitor attached beside it."""
    return _with_monitoring(ModelVersion.from_json(item["record"]["S"]), item)


def summary_of(item: dict[str, Any]) -> VersionSummary:
    """A version item's summary, with what the monitor attached beside it."""
    return _with_monitoring(VersionSummary.from_json(item["record"]["S"]), item)


def _with_monitoring(record: _Read, item: dict[str, Any]) -> _Read:
    for name in ("live", "drift"):
        if name in item:
            setattr(record, name, _load_json(item[name]["S"]))
    return record


def _load_json(text: str) -> Any:
    """JSON the monitor wrote; msgspec first (an overview reads thousands), the standard library for a NaN token."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)
