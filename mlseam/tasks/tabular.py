"""The ``tabular_regression`` task kind: named numeric features in, a float target out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pydantic

from mlseam.errors import InvalidInputError
from mlseam.tasks.base import TaskKind, require_finite


class TabularOptions(pydantic.BaseModel):
    """``inputs`` of a tabular_regression manifest: the feature names, in matrix column order."""

    model_config = pydantic.ConfigDict(extra="forbid")

    features: list[str] = pydantic.Field(min_length=1)

    @pydantic.field_validator("features")
    @classmethod
    def _unique_identifiers(cls, features: list[str]) -> list[str]:
        for feature in features:
            if not feature.isidentifier():
                raise ValueError(f"feature {feature!r} must be a plain identifier (a-z, 0-9, _)")
        if len(set(features)) != len(features):
            raise ValueError("feature names must be unique")
        return features


class TabularRegression(TaskKind[list[float], np.ndarray]):
    """Input: ``{"feature": number, ...}`` with exactly the manifest's features; target: float.

    The model sees a batch as a 2-D float64 ``numpy.ndarray`` of shape (n, len(features)),
    columns in the manifest's ``inputs.features`` order (``self.features``).
    """

    name: ClassVar[str] = "tabular_regression"
    table: ClassVar[str] = "tabular_regression_examples"
    label_column: ClassVar[str] = "label"
    label_sql_type: ClassVar[str] = "double precision"
    options_model: ClassVar[type[pydantic.BaseModel]] = TabularOptions

    @property
    def features(self) -> list[str]:
        """Feature names in column order."""
        assert isinstance(self.options, TabularOptions)  # noqa: S101 - set by from_manifest
        return self.options.features

    def validate_input(self, value: object, *, index: int | None = None) -> list[float]:
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"input: expected an object of {len(self.features)} named numbers",
                index=index,
                field="input",
            )
        missing = [f for f in self.features if f not in value]
        if missing:
            raise InvalidInputError(f"input: missing feature(s) {', '.join(missing)}", index=index, field="input")
        extra = sorted(set(value) - set(self.features))
        if extra:
            raise InvalidInputError(
                f"input: unknown feature(s) {', '.join(map(str, extra))}; expected {', '.join(self.features)}",
                index=index,
                field="input",
            )
        return [require_finite(value[f], index=index, field=f"input.{f}") for f in self.features]

    def validate_label(self, value: object, *, index: int | None = None) -> float:
        return require_finite(value, index=index, field="label")

    def to_batch(self, inputs: Sequence[list[float]]) -> np.ndarray:
        return np.asarray(inputs, dtype=np.float64).reshape(len(inputs), len(self.features))

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        return np.asarray(labels, dtype=np.float64)

    def input_to_json(self, value: list[float]) -> Any:
        return dict(zip(self.features, value, strict=True))

    def validate_output(self, value: object, *, index: int) -> float:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise InvalidInputError(f"predict output {index}: expected a finite number, got {value!r}")

    def feature_sql(self) -> list[str]:
        """One float8 SQL expression per feature over the ``input`` column; NaN when malformed.

        Lets the examples store stream a numeric matrix with binary COPY and no per-row
        Python work; a malformed row shows as NaN and is skipped and counted.
        """
        keys = ", ".join(_sql_literal(f) for f in self.features)
        exprs = [
            "CASE WHEN jsonb_typeof(input) = 'object' "
            f"AND (input - ARRAY[{keys}]::text[]) = '{{}}'::jsonb THEN 0.0 ELSE 'NaN' END::float8"
        ]
        for feature in self.features:
            key = _sql_literal(feature)
            exprs.append(
                f"CASE WHEN jsonb_typeof(input -> {key}) = 'number' THEN (input ->> {key})::float8 ELSE 'NaN' END"
            )
        return exprs


def _sql_literal(identifier: str) -> str:
    # Feature names are validated identifiers, so quoting cannot be escaped out of.
    return "'" + identifier.replace("'", "''") + "'"
