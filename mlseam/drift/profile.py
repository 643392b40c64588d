"""Profiles: how each statistic of a batch of inputs or outputs is distributed, as JSON-ready data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlseam.errors import InvalidInputError

PROFILE_FORMAT = 1
"""Version of the JSON layout of ``ReferenceProfile``; a reader refuses any other."""


@dataclass(frozen=True)
class Binned:
    """A numeric statistic: ``shares[i]`` of the values fell in bin ``i`` of ``edges``.

    ``edges`` are the inner bin edges, ascending: bin 0 holds the values below ``edges[0]``,
    bin ``i`` those in ``[edges[i-1], edges[i])`` and the last those at or above ``edges[-1]``.
    The outer bins are open, so values beyond anything in the reference still land in a bin.
    """

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def of(cls, values: np.ndarray, edges: np.ndarray) -> Binned:
        """The shares of ``values`` in the bins of ``edges`` (all zero when there are no values)."""
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return cls.from_counts(edges, counts)

    @classmethod
    def from_counts(cls, edges: np.ndarray, counts: np.ndarray) -> Binned:
        """The shares of bin ``counts`` (one more than there are ``edges``)."""
        total = float(counts.sum())
        shares = counts / total if total else np.zeros(len(counts))
        return cls(edges=tuple(float(e) for e in edges), shares=tuple(float(s) for s in shares))

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "shares": list(self.shares)}


@dataclass(frozen=True)
class Shares:
    """A categorical statistic (a predicted label): the share of each category."""

    categories: dict[str, float]

    @classmethod
    def of(cls, values: np.ndarray) -> Shares:
        """The share of each distinct value of ``values``, keyed by its text."""
        names, counts = np.unique(np.asarray([str(v) for v in values], dtype=object), return_counts=True)
        total = float(counts.sum())
        return cls(categories={str(n): float(c) / total for n, c in zip(names, counts, strict=True)} if total else {})

    def to_dict(self) -> dict[str, Any]:
        return {"categories": dict(self.categories)}


Distribution = Binned | Shares
"""The distribution of one statistic."""


@dataclass(frozen=True)
class Profile:
    """The distribution of every statistic of ``count`` inputs (or outputs) of one task kind.

    ``params`` are what the statistics were measured with (feature names, the pixel value range
    and ink threshold), so a window of live data is measured exactly as the reference was.
    """

    kind: str
    side: str
    """``inputs`` or ``outputs``."""
    count: int
    statistics: dict[str, Distribution]
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON types."""
        return {
            "kind": self.kind,
            "side": self.side,
            "count": self.count,
            "params": self.params,
            "statistics": {name: stat.to_dict() for name, stat in self.statistics.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The profile ``to_dict`` wrote; InvalidInputError naming what is missing otherwise."""
        try:
            statistics: dict[str, Distribution] = {
                name: Shares(categories={str(k): float(v) for k, v in stat["categories"].items()})
                if "categories" in stat
                else Binned(edges=tuple(map(float, stat["edges"])), shares=tuple(map(float, stat["shares"])))
                for name, stat in data["statistics"].items()
            }
            return cls(
                kind=str(data["kind"]),
                side=str(data["side"]),
                count=int(data["count"]),
                statistics=statistics,
                params=dict(data.get("params", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInputError(f"not a drift profile: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class ReferenceProfile:
    """What a version is compared against on live traffic: its training inputs, its holdout outputs."""

    inputs: Profile
    outputs: Profile | None

    def to_json(self) -> bytes:
        """UTF-8 JSON, keys sorted, so the same profile always gives the same bytes."""
        data = {
            "format": PROFILE_FORMAT,
            "inputs": self.inputs.to_dict(),
            "outputs": None if self.outputs is None else self.outputs.to_dict(),
        }
        return json.dumps(data, sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> ReferenceProfile:
        """The profile ``to_json`` wrote; InvalidInputError when it is not one."""
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise InvalidInputError(f"not a drift profile: {exc}") from None
        if not isinstance(parsed, dict) or parsed.get("format") != PROFILE_FORMAT:
            raise InvalidInputError(f"not a drift profile of format {PROFILE_FORMAT}")
        outputs = parsed.get("outputs")
        return cls(
            inputs=Profile.from_dict(parsed.get("inputs") or {}),
            outputs=None if outputs is None else Profile.from_dict(outputs),
        )
