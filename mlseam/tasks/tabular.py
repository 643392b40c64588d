"""The ``tabular_regression`` task kind: named numeric features in, a float target out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pydantic

from mlseam.errors import ModelOutputError
from mlseam.tasks.base import bounded_number
from mlseam.tasks.features import FeatureOptions, NamedFeatures, ValueRange


class TabularOptions(FeatureOptions):
    """``inputs`` of a tabular_regression manifest: the features, in matrix column order, and ranges.

    A feature is a name (``bmi``) or ``{name: bmi, min: -0.5, max: 0.5}``; ``label: {min, max}``
    bounds the target. Anything without a declared bound is bounded by ``max_abs``.
    """

    label: ValueRange = ValueRange()

    @pydantic.model_validator(mode="after")
    def _nonempty_label_range(self) -> TabularOptions:
        try:
            self.label.bounds(self.max_abs)
        except ValueError as exc:
            raise ValueError(f"label: {exc}") from None
        return self


class TabularRegression(NamedFeatures):
    """Input: ``{"feature": number, ...}`` with exactly the manifest's features; target: float.

    The model sees a batch as a 2-D float64 ``numpy.ndarray`` of shape (n, len(features)),
    columns in the manifest's ``inputs.features`` order (``self.features``).
    """

    name: ClassVar[str] = "tabular_regression"
    table: ClassVar[str] = "tabular_regression_examples"
    options_model: ClassVar[type[pydantic.BaseModel]] = TabularOptions
    output_field: ClassVar[str] = "value"

    def label_bounds(self, options: FeatureOptions) -> tuple[float, float]:
        assert isinstance(options, TabularOptions)  # noqa: S101 - options_model builds it
        return options.label.bounds(options.max_abs)

    def label_type(self) -> Any:
        return bounded_number(*self.bounds.label)

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        return np.asarray(labels, dtype=np.float64)

    def validate_output(self, value: object, *, index: int) -> float:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ModelOutputError(f"predict output {index}: expected a finite number, got {value!r}")
