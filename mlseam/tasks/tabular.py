"""The ``tabular_regression`` task kind: named numeric features in, a float target out."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pydantic
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from mlseam.errors import ModelOutputError
from mlseam.tasks.base import DEFAULT_BOUND, FiniteNumber, TaskKind, bounded_number


class TabularOptions(pydantic.BaseModel):
    """``inputs`` of a tabular_regression manifest: the feature names, in matrix column order."""

    model_config = pydantic.ConfigDict(extra="forbid")

    features: list[str] = pydantic.Field(min_length=1)
    max_abs: float = pydantic.Field(default=DEFAULT_BOUND, gt=0, description="largest magnitude of a feature")

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
    options_model: ClassVar[type[pydantic.BaseModel]] = TabularOptions
    output_field: ClassVar[str] = "value"

    @property
    def features(self) -> list[str]:
        """Feature names in column order."""
        assert isinstance(self.options, TabularOptions)  # noqa: S101 - set by from_manifest
        return self.options.features

    def input_type(self) -> Any:
        assert isinstance(self.options, TabularOptions)  # noqa: S101 - set by from_manifest
        number = bounded_number(-self.options.max_abs, self.options.max_abs)
        fields = dict.fromkeys(self.features, number)
        row = TypedDict("FeaturesInput", fields)  # type: ignore[misc]
        return with_config(ConfigDict(extra="forbid"))(row)

    def label_type(self) -> Any:
        return FiniteNumber

    def coerce_input(self, value: Any, *, index: int | None = None) -> list[float]:
        return [value[f] for f in self.features]

    def fast_inputs(self, values: list[Any], body: bytes) -> list[list[float]] | None:
        if b"true" in body or b"false" in body:
            return None  # numpy would read JSON booleans as numbers
        features = self.features
        count = len(features)
        rows = []
        for value in values:
            if type(value) is not dict or len(value) != count:
                return None
            try:
                rows.append([value[f] for f in features])
            except KeyError:
                return None
        try:
            batch = np.asarray(rows)
        except (ValueError, TypeError, OverflowError):
            return None
        if batch.dtype.kind not in "iuf" or batch.shape != (len(values), count):
            return None
        batch = batch.astype(np.float64, copy=False)
        assert isinstance(self.options, TabularOptions)  # noqa: S101 - set by from_manifest
        if not np.isfinite(batch).all() or np.abs(batch).max() > self.options.max_abs:
            return None
        result: list[list[float]] = batch.tolist()
        return result

    def sample_input(self) -> list[float]:
        return [0.0] * len(self.features)

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
        raise ModelOutputError(f"predict output {index}: expected a finite number, got {value!r}")

    @property
    def features_key(self) -> str:
        """Names the feature list (and its order) that a stored ``features`` vector follows."""
        return hashlib.sha256(json.dumps(self.features).encode()).hexdigest()[:16]

    def stored_columns(self, value: list[float]) -> dict[str, Any]:
        return {"features": value, "features_key": self.features_key}

    @property
    def matrix_width(self) -> int:
        return len(self.features)

    def matrix_sql(self) -> str:
        """A float8[] SQL expression of one row's features, NaN where the row is malformed.

        Rows written through the store carry a ``features`` vector for the current feature
        list and are read as they are; any other row is rebuilt from its JSON ``input``.
        """
        keys = ", ".join(_sql_literal(f) for f in self.features)
        well_formed = f"jsonb_typeof(input) = 'object' AND (input - ARRAY[{keys}]::text[]) = '{{}}'::jsonb"
        from_json = ", ".join(
            f"CASE WHEN {well_formed} AND jsonb_typeof(input -> {_sql_literal(f)}) = 'number' "
            f"THEN (input ->> {_sql_literal(f)})::float8 ELSE 'NaN' END"
            for f in self.features
        )
        return (
            f"CASE WHEN features_key = {_sql_literal(self.features_key)} AND array_ndims(features) = 1 "
            f"AND cardinality(features) = {len(self.features)} AND array_position(features, NULL) IS NULL "
            f"THEN features ELSE ARRAY[{from_json}]::float8[] END"
        )


def _sql_literal(identifier: str) -> str:
    # Feature names are validated identifiers and keys are hex, so quoting cannot be escaped out of.
    return "'" + identifier.replace("'", "''") + "'"
