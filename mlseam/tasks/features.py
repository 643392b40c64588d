"""Named numeric features, each within its declared range: what the two tabular task kinds share."""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import pydantic
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from mlseam.tasks.base import DEFAULT_BOUND, MatrixBounds, TaskKind, bounded_number


class ValueRange(pydantic.BaseModel):
    """A declared ``{min, max}`` of a number; a bound left out falls back to ``max_abs``."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)

    min: float | None = None
    max: float | None = None

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> ValueRange:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self

    def bounds(self, max_abs: float) -> tuple[float, float]:
        """(low, high): the declared bounds, ``-max_abs`` and ``max_abs`` where none is declared."""
        low = -max_abs if self.min is None else self.min
        high = max_abs if self.max is None else self.max
        if low >= high:
            raise ValueError(f"the range {low}..{high} is empty: declare both min and max, or widen max_abs")
        return low, high


class Feature(ValueRange):
    """One feature of ``inputs.features``: its name and optional ``min`` / ``max``."""

    name: str

    @pydantic.field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"feature {name!r} must be a plain identifier (a-z, 0-9, _)")
        return name


class FeatureOptions(pydantic.BaseModel):
    """The features part of a tabular manifest's ``inputs``: names in matrix column order, and ranges.

    A feature is a name (``bmi``) or ``{name: bmi, min: -0.5, max: 0.5}``; anything without a
    declared bound is bounded by ``max_abs``.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    features: list[Feature] = pydantic.Field(min_length=1)
    max_abs: float = pydantic.Field(
        default=DEFAULT_BOUND, gt=0, allow_inf_nan=False, description="largest magnitude of an unbounded number"
    )

    @pydantic.field_validator("features", mode="before")
    @classmethod
    def _names_alone(cls, features: Any) -> Any:
        if not isinstance(features, list):
            return features
        for item in features:
            if not isinstance(item, str | dict):
                raise ValueError(
                    f"a feature is a name (bmi) or a mapping {{name: bmi, min: -0.5, max: 0.5}}, not {item!r}"
                )
        return [{"name": item} if isinstance(item, str) else item for item in features]

    @pydantic.field_validator("features")
    @classmethod
    def _unique(cls, features: list[Feature]) -> list[Feature]:
        names = [feature.name for feature in features]
        if len(set(names)) != len(names):
            raise ValueError("feature names must be unique")
        return features

    @pydantic.model_validator(mode="after")
    def _nonempty_feature_ranges(self) -> FeatureOptions:
        for feature in self.features:
            try:
                feature.bounds(self.max_abs)
            except ValueError as exc:
                raise ValueError(f"feature {feature.name}: {exc}") from None
        return self


class NamedFeatures(TaskKind[list[float], np.ndarray]):
    """Input: ``{"feature": number, ...}`` with exactly the manifest's features, each in its range.

    The model sees a batch as a 2-D float64 ``numpy.ndarray`` of shape (n, len(features)),
    columns in the manifest's ``inputs.features`` order (``self.features``). Subclasses say what
    the label is, and the range its matrix form (``MatrixBounds.label``) is held to.
    """

    def __init__(self, options: pydantic.BaseModel) -> None:
        assert isinstance(options, FeatureOptions)  # noqa: S101 - options_model builds it
        self._features = [feature.name for feature in options.features]
        bounds = [feature.bounds(options.max_abs) for feature in options.features]
        self.bounds = MatrixBounds(
            low=np.array([low for low, _ in bounds], dtype=np.float64),
            high=np.array([high for _, high in bounds], dtype=np.float64),
            label=self.label_bounds(options),
        )
        super().__init__(options)

    @abstractmethod
    def label_bounds(self, options: FeatureOptions) -> tuple[float, float]:
        """The range of a label as the matrix read yields it (see ``matrix_classes``)."""

    @property
    def features(self) -> list[str]:
        """Feature names in column order."""
        return self._features

    def input_type(self) -> Any:
        bounds = zip(self.bounds.low.tolist(), self.bounds.high.tolist(), strict=True)
        fields = {name: bounded_number(low, high) for name, (low, high) in zip(self.features, bounds, strict=True)}
        row = TypedDict("FeaturesInput", fields)  # type: ignore[misc]
        return with_config(ConfigDict(extra="forbid"))(row)

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
        # NaN fails both comparisons, so out-of-range and non-finite values are refused alike.
        if not ((batch >= self.bounds.low) & (batch <= self.bounds.high)).all():
            return None
        result: list[list[float]] = batch.tolist()
        return result

    def sample_input(self) -> list[float]:
        sample: list[float] = np.clip(0.0, self.bounds.low, self.bounds.high).tolist()
        return sample

    def to_batch(self, inputs: Sequence[list[float]]) -> np.ndarray:
        return np.asarray(inputs, dtype=np.float64).reshape(len(inputs), len(self.features))

    def input_to_json(self, value: list[float]) -> Any:
        return dict(zip(self.features, value, strict=True))

    @property
    def features_key(self) -> str:
        """Names the feature list (and its order) that a stored ``features`` vector follows."""
        return hashlib.sha256(json.dumps(self.features).encode()).hexdigest()[:16]

    def stored_columns(self, value: list[float]) -> dict[str, Any]:
        return {"features": value, "features_key": self.features_key}

    @property
    def matrix_width(self) -> int:
        return len(self.features)

    def matrix_bounds(self) -> MatrixBounds:
        return self.bounds

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
