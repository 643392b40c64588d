"""Profiling a batch: the reference of a version at retrain, and a live window measured like it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlseam.drift.measures import INPUT_MEASURES, OUTPUT_MEASURES, TABULAR_KINDS, Measured, image_params
from mlseam.drift.profile import Binned, Distribution, Profile, Shares
from mlseam.errors import InvalidInputError
from mlseam.tasks import TaskKind
from mlseam.tasks.base import DEFAULT_BOUND

REFERENCE_BINS = 10
"""Numeric statistics are binned on the deciles of the reference (fewer bins where values repeat)."""


def reference_edges(values: np.ndarray) -> np.ndarray:
    """Inner bin edges at the deciles of ``values``, each once (a constant gives one edge).

    The deciles are values of the data, never interpolated between them, so a feature with
    few distinct values (a flag, a count) gets one bin per value rather than bins none can fill.
    """
    if len(values) == 0:
        return np.empty(0)
    deciles = np.linspace(0.0, 1.0, REFERENCE_BINS + 1)[1:-1]
    return np.unique(np.quantile(values, deciles, method="inverted_cdf"))


def _reference_distributions(measured: Measured) -> dict[str, Distribution]:
    distributions: dict[str, Distribution] = {}
    for name, values in measured.items():
        if isinstance(values, Binned):
            distributions[name] = values
        elif values.dtype == object:
            distributions[name] = Shares.of(values)
        else:
            distributions[name] = Binned.of(values, reference_edges(values))
    return distributions


def _input_params(kind: TaskKind[Any, Any], batch: Any) -> dict[str, Any]:
    """What the inputs are measured with: the features, or the pixel range the manifest declares."""
    if kind.name in TABULAR_KINDS:
        return {"features": list(kind.features)}  # type: ignore[attr-defined]
    low, high = float(kind.options.min_value), float(kind.options.max_value)  # type: ignore[attr-defined]
    if (low <= -DEFAULT_BOUND or high >= DEFAULT_BOUND) and len(batch):
        # An undeclared range would put every pixel in one of two bins: the data's own range is used.
        pixels = [(float(np.min(image)), float(np.max(image))) for image in batch]
        low = low if low > -DEFAULT_BOUND else min(p[0] for p in pixels)
        high = high if high < DEFAULT_BOUND else max(p[1] for p in pixels)
    # A blank reference (every pixel equal) still needs a range to bin live pixels on.
    return image_params(low, high if high > low else low + 1.0)


def _unknown(kind: str) -> InvalidInputError:
    return InvalidInputError(f"no drift profile for the task kind {kind!r}; known: {', '.join(OUTPUT_MEASURES)}")


def profile_inputs(kind: TaskKind[Any, Any], batch: Any) -> Profile:
    """The reference profile of ``batch``, inputs as ``kind``'s model sees them (a matrix, a list of images)."""
    if kind.name not in INPUT_MEASURES:
        raise _unknown(kind.name)
    params = _input_params(kind, batch)
    measured = INPUT_MEASURES[kind.name](batch, params)
    return Profile(kind.name, "inputs", len(batch), _reference_distributions(measured), params)


def profile_outputs(kind: TaskKind[Any, Any] | str, outputs: Sequence[Any]) -> Profile:
    """The reference profile of ``outputs``: predicted values, or the API's ``{"label": ...}`` answers."""
    name = kind if isinstance(kind, str) else kind.name
    if name not in OUTPUT_MEASURES:
        raise _unknown(name)
    return Profile(name, "outputs", len(outputs), _reference_distributions(OUTPUT_MEASURES[name](name, outputs)))


def profile_window(reference: Profile, data: Any) -> Profile:
    """``data`` (inputs or outputs, as ``reference`` profiles) measured and binned exactly as ``reference``.

    Comparing needs the same bins on both sides: a window is never binned on its own deciles.
    """
    if reference.side == "inputs":
        measured = INPUT_MEASURES[reference.kind](data, reference.params)
    else:
        measured = OUTPUT_MEASURES[reference.kind](reference.kind, data)
    statistics: dict[str, Distribution] = {}
    for name, stat in reference.statistics.items():
        values = measured[name]
        if isinstance(values, Binned):
            statistics[name] = values
        elif isinstance(stat, Shares):
            statistics[name] = Shares.of(values)
        else:
            statistics[name] = Binned.of(values, np.asarray(stat.edges))
    return Profile(reference.kind, reference.side, len(data), statistics, reference.params)
