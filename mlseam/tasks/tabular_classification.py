"""The ``tabular_classification`` task kind: named numeric features in, one of the declared labels out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pydantic

from mlseam.errors import ModelOutputError
from mlseam.tasks.features import FeatureOptions, NamedFeatures
from mlseam.tasks.labels import ClassName, check_unique, declared_label, not_declared


class ClassificationOptions(FeatureOptions):
    """``inputs`` of a tabular_classification manifest: the features as tabular_regression declares
    them (names in column order, ``min`` / ``max`` per feature, ``max_abs``) and the class names."""

    labels: list[ClassName] = pydantic.Field(
        min_length=2, description="the class names: the only labels accepted and predicted"
    )

    _unique_labels = pydantic.field_validator("labels")(check_unique)

    @pydantic.field_validator("labels", mode="before")
    @classmethod
    def _quoted(cls, labels: Any) -> Any:
        # YAML reads an unquoted 0 as a number, and a number is never a label: say how to write it.
        for label in labels if isinstance(labels, list) else []:
            if isinstance(label, int | float | bool):
                raise ValueError(f'a label is text: quote it in service.yaml ("{label}", not {label})')
        return labels


class TabularClassification(NamedFeatures):
    """Input: ``{"feature": number, ...}`` with exactly the manifest's features; label: a declared class name.

    The model sees a batch as a 2-D float64 ``numpy.ndarray`` of shape (n, len(features)),
    columns in the manifest's ``inputs.features`` order (``self.features``), and labels as a
    numpy array of strings, each one of ``inputs.labels`` (``self.labels``).
    """

    name: ClassVar[str] = "tabular_classification"
    table: ClassVar[str] = "tabular_classification_examples"
    options_model: ClassVar[type[pydantic.BaseModel]] = ClassificationOptions
    needs_label_variety: ClassVar[bool] = True
    output_field: ClassVar[str] = "label"
    has_probabilities: ClassVar[bool] = True

    def __init__(self, options: pydantic.BaseModel) -> None:
        assert isinstance(options, ClassificationOptions)  # noqa: S101 - options_model builds it
        self._labels: list[str] = list(options.labels)
        super().__init__(options)

    @property
    def labels(self) -> list[str]:
        """The declared class names, in manifest order."""
        return self._labels

    def label_bounds(self, options: FeatureOptions) -> tuple[float, float]:
        return 0.0, float(len(self.labels) - 1)

    def label_type(self) -> Any:
        return declared_label(self.labels)

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        return np.asarray(labels, dtype=object)

    def matrix_classes(self) -> list[str]:
        return self.labels

    def validate_output(self, value: object, *, index: int) -> str:
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, int | str) or isinstance(value, bool):
            raise ModelOutputError(f"predict output {index}: expected a label string, got {type(value).__name__}")
        label = str(value)
        if label not in self.labels:
            raise ModelOutputError(
                f"predict output {index}: {not_declared(label, self.labels)}; predict only the declared labels"
            )
        return label
