"""The ``image_classification`` task kind: a 2-D grayscale image in, a string label out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pydantic

from mlseam.errors import InvalidInputError
from mlseam.tasks.base import TaskKind, require_finite


class ImageOptions(pydantic.BaseModel):
    """``inputs`` of an image_classification manifest: an optional fixed image size."""

    model_config = pydantic.ConfigDict(extra="forbid")

    height: int | None = pydantic.Field(default=None, ge=1, le=4096)
    width: int | None = pydantic.Field(default=None, ge=1, le=4096)
    max_pixels: int = pydantic.Field(default=1_000_000, ge=1)


class ImageClassification(TaskKind[np.ndarray, list[np.ndarray]]):
    """Input: a grayscale image as rows of numbers (``[[0, 3.5, ...], ...]``); label: a string.

    The model sees a batch as ``list[numpy.ndarray]``, each array 2-D float64 (height, width).
    """

    name: ClassVar[str] = "image_classification"
    table: ClassVar[str] = "image_classification_examples"
    label_column: ClassVar[str] = "label"
    label_sql_type: ClassVar[str] = "text"
    options_model: ClassVar[type[pydantic.BaseModel]] = ImageOptions
    needs_label_variety: ClassVar[bool] = True

    @property
    def image_options(self) -> ImageOptions:
        assert isinstance(self.options, ImageOptions)  # noqa: S101 - set by from_manifest
        return self.options

    def validate_input(self, value: object, *, index: int | None = None) -> np.ndarray:
        opts = self.image_options
        if not isinstance(value, list) or not value:
            raise InvalidInputError("input: expected a non-empty list of pixel rows", index=index, field="input")
        width = None
        for r, row in enumerate(value):
            if not isinstance(row, list) or not row:
                raise InvalidInputError(
                    f"input[{r}]: expected a non-empty list of numbers", index=index, field=f"input[{r}]"
                )
            if width is None:
                width = len(row)
            elif len(row) != width:
                raise InvalidInputError(
                    f"input[{r}]: has {len(row)} pixels, row 0 has {width}; rows must be equal length",
                    index=index,
                    field=f"input[{r}]",
                )
            for c, pixel in enumerate(row):
                require_finite(pixel, index=index, field=f"input[{r}][{c}]")
        array = np.asarray(value, dtype=np.float64)
        height, width = array.shape
        if (opts.height is not None and height != opts.height) or (opts.width is not None and width != opts.width):
            raise InvalidInputError(
                f"input: image is {height}x{width}, this service expects {opts.height}x{opts.width} (height x width)",
                index=index,
                field="input",
            )
        if array.size > opts.max_pixels:
            raise InvalidInputError(
                f"input: {array.size} pixels exceeds the limit of {opts.max_pixels}",
                index=index,
                field="input",
            )
        return array

    def validate_label(self, value: object, *, index: int | None = None) -> str:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError("label: expected a non-empty string", index=index, field="label")
        return value

    def to_batch(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(inputs)

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        return np.asarray(labels, dtype=object)

    def input_to_json(self, value: np.ndarray) -> Any:
        return value.tolist()

    def validate_output(self, value: object, *, index: int) -> str:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, int | str) and not isinstance(value, bool):
            return str(value)
        raise InvalidInputError(f"predict output {index}: expected a label string, got {type(value).__name__}")
