"""``shadow`` in ``service.yaml``: how a challenger answers a share of live traffic beside the champion."""

from __future__ import annotations

import re
from typing import Any

import pydantic

_DURATION = re.compile(r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)\s*$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """Seconds in ``500ms``, ``2s``, ``30m``, ``24h``, ``7d`` or a plain number of seconds; ValueError otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} must be a duration such as 500ms, 2s, 30m, 24h or 7d")
    return float(match["amount"]) * _SECONDS[match["unit"]]


class ShadowOptions(pydantic.BaseModel):
    """``shadow``: the challenger (the latest pending version, and opted-in fresh candidates) in shadow.

    Every field is optional; leaving ``shadow`` out shadows a pending version at ``share`` 0.1.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    share: float = pydantic.Field(default=0.1, ge=0.0, le=1.0, allow_inf_nan=False)
    """Share of predict requests the challenger answers too, after the champion's answer went (0: never)."""
    timeout: float = 2.0
    """Longest one challenger call may take (``2s``); past it its process is killed, counted and restarted."""
    candidates_for: float | None = None
    """Also shadow each newly fitted candidate that did not win (``24h``) for this long after its retrain."""
    auto_after_shadow: bool = False
    """Where promotion is ``auto``: a winner waits pending in shadow until the live comparison decides."""
    min_labelled: int = pydantic.Field(default=200, ge=1)
    """Labelled shadowed requests the live comparison needs before it decides."""
    queue: int = pydantic.Field(default=64, ge=1, le=10_000)
    """Most requests waiting for the challenger; more are dropped and counted, never waited for."""

    @pydantic.field_validator("timeout", "candidates_for", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @pydantic.field_validator("timeout")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not 0.0 < value <= 600.0:
            raise ValueError(f"must be more than 0 s and at most 10 minutes (got {value:g} s)")
        return value
