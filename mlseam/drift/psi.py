"""The Population Stability Index of two distributions, and the verdict its size gives.

PSI is an effect size, not a test: it measures how far the shares moved, whatever the sample
size, so a large window of unchanged data stays stable where a p-value would flag it.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from mlseam.drift.profile import Binned, Distribution, Shares
from mlseam.errors import InvalidInputError

EMPTY_SHARE = 1e-4
"""Stands in for a share of zero, whose logarithm PSI cannot take (an empty bin on either side)."""
MODERATE_FROM = 0.1
"""PSI at or above this is moderate drift: look at it."""
DRIFTED_FROM = 0.25
"""PSI at or above this is drift: the live data no longer looks like the reference."""


class DriftVerdict(StrEnum):
    """How far a statistic (or a whole window) moved from its reference."""

    STABLE = "stable"  # PSI below MODERATE_FROM
    MODERATE = "moderate"  # MODERATE_FROM <= PSI < DRIFTED_FROM
    DRIFTED = "drifted"  # PSI at or above DRIFTED_FROM

    @classmethod
    def of(cls, psi: float) -> DriftVerdict:
        """The verdict for a PSI value."""
        if psi >= DRIFTED_FROM:
            return cls.DRIFTED
        return cls.MODERATE if psi >= MODERATE_FROM else cls.STABLE


def psi_of_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """``sum((actual - expected) * ln(actual / expected))``, each share at least ``EMPTY_SHARE``."""
    expected = np.maximum(np.asarray(expected, dtype=np.float64), EMPTY_SHARE)
    actual = np.maximum(np.asarray(actual, dtype=np.float64), EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def psi(reference: Distribution, window: Distribution) -> float:
    """The PSI of ``window`` against ``reference``: bins must match; categories are united."""
    if isinstance(reference, Binned) and isinstance(window, Binned):
        if reference.edges != window.edges:
            raise InvalidInputError(
                "the window was binned on other edges than the reference; "
                "profile it with profile_window(reference, ...)"
            )
        return psi_of_shares(np.asarray(reference.shares), np.asarray(window.shares))
    if isinstance(reference, Shares) and isinstance(window, Shares):
        names = sorted(set(reference.categories) | set(window.categories))
        expected = np.array([reference.categories.get(n, 0.0) for n in names])
        actual = np.array([window.categories.get(n, 0.0) for n in names])
        return psi_of_shares(expected, actual)
    raise InvalidInputError(
        f"cannot compare a {type(window).__name__} window with a {type(reference).__name__} reference"
    )
