"""The ``image_classification`` task kind: a 2-D grayscale image in, a string label out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
import pydantic
from annotated_types import Len

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.tasks.base import DEFAULT_BOUND, TaskKind, bounded_number, plain_text
from mlseam.tasks.image_body import ImageLimits, images_from_body, images_from_values
from mlseam.tasks.labels import ClassName, check_unique, declared_label


class ImageOptions(pydantic.BaseModel):
    """``inputs`` of an image_classification manifest: an optional fixed image size, the pixel
    range and, optionally, the labels an image may carry."""

    model_config = pydantic.ConfigDict(extra="forbid")

    height: int | None = pydantic.Field(default=None, ge=1, le=4096)
    width: int | None = pydantic.Field(default=None, ge=1, le=4096)
    max_pixels: int = pydantic.Field(default=1_000_000, ge=1)
    min_value: float = -DEFAULT_BOUND
    max_value: float = DEFAULT_BOUND
    labels: list[ClassName] | None = pydantic.Field(
        default=None, min_length=2, description="the only labels accepted (default: any non-blank text)"
    )

    _unique_labels = pydantic.field_validator("labels")(check_unique)


class ImageClassification(TaskKind[np.ndarray, list[np.ndarray]]):
    """Input: a grayscale image as rows of numbers (``[[0, 3.5, ...], ...]``); label: a string.

    The model sees a batch as ``list[numpy.ndarray]``, each array 2-D float64 (height, width).
    """

    name: ClassVar[str] = "image_classification"
    table: ClassVar[str] = "image_classification_examples"
    options_model: ClassVar[type[pydantic.BaseModel]] = ImageOptions
    needs_label_variety: ClassVar[bool] = True
    output_field: ClassVar[str] = "label"
    has_probabilities: ClassVar[bool] = True

    @property
    def image_options(self) -> ImageOptions:
        assert isinstance(self.options, ImageOptions)  # noqa: S101 - set by from_manifest
        return self.options

    def input_type(self) -> Any:
        opts = self.image_options
        pixel = bounded_number(opts.min_value, opts.max_value)
        row = Annotated[list[pixel], Len(opts.width or 1, opts.width)]  # type: ignore[valid-type]
        return Annotated[list[row], Len(opts.height or 1, opts.height)]

    def label_type(self) -> Any:
        labels = self.image_options.labels
        return plain_text() if labels is None else declared_label(labels)

    def coerce_input(self, value: Any, *, index: int | None = None) -> np.ndarray:
        width = len(value[0])
        for r, row in enumerate(value):
            if len(row) != width:
                raise InvalidInputError(
                    f"input[{r}]: has {len(row)} pixels, row 0 has {width}; rows must be equal length",
                    index=index,
                    field=f"input[{r}]",
                )
        if len(value) * width > self.image_options.max_pixels:
            raise InvalidInputError(
                f"input: {len(value) * width} pixels exceeds the limit of {self.image_options.max_pixels}",
                index=index,
                field="input",
            )
        return np.asarray(value, dtype=np.float64)

    def fast_body(self, body: bytes, max_items: int) -> list[np.ndarray] | None:
        return images_from_body(body, max_items, self._limits())

    def fast_inputs(self, values: list[Any], body: bytes) -> list[np.ndarray] | None:
        return images_from_values(values, body, self._limits())

    def _limits(self) -> ImageLimits:
        opts = self.image_options
        return ImageLimits(self._shape_ok, opts.min_value, opts.max_value)

    def _shape_ok(self, shape: tuple[int, int]) -> bool:
        """The manifest's size limits hold for an image of this (height, width)."""
        opts = self.image_options
        height, width = shape
        return (
            (opts.height is None or height == opts.height)
            and (opts.width is None or width == opts.width)
            and height * width <= opts.max_pixels
        )

    def sample_input(self) -> np.ndarray:
        opts = self.image_options
        return np.zeros((opts.height or 8, opts.width or 8), dtype=np.float64)

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
        raise ModelOutputError(f"predict output {index}: expected a label string, got {type(value).__name__}")
