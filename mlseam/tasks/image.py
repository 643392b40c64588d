"""The ``image_classification`` task kind: a 2-D grayscale image in, a string label out."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
import pydantic
import simdjson
from annotated_types import Len

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.tasks.base import DEFAULT_BOUND, TaskKind, bounded_number, plain_text
from mlseam.tasks.labels import ClassName, check_unique, declared_label

_NUMBER_AND_SPACE = b"0123456789+-.eE \t\r\n"
"""What JSON numbers and insignificant whitespace are made of."""


@functools.lru_cache(maxsize=64)
def _predict_skeleton(count: int, height: int, width: int) -> bytes:
    """``{"inputs":[[[,,],[,,]],...]}`` for ``count`` images of height x width, numbers left out."""
    row = b"[" + b"," * (width - 1) + b"]"
    image = b"[" + b",".join([row] * height) + b"]"
    return b'{"inputs":[' + b",".join([image] * count) + b"]}"


_local = threading.local()


def _parser() -> simdjson.Parser:
    """This thread's simdjson parser (a parser serves one document at a time)."""
    parser: simdjson.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


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
        # simdjson reads every number of the body straight into one float64 buffer; the body's
        # skeleton then proves the shape (the buffer alone would hide ragged rows).
        try:
            doc = _parser().parse(body)
            try:
                images = doc["inputs"] if isinstance(doc, simdjson.Object) and len(doc) == 1 else None
                if not isinstance(images, simdjson.Array) or not 1 <= len(images) <= max_items:
                    return None
                first = images[0]
                if not isinstance(first, simdjson.Array) or not len(first) or not isinstance(first[0], simdjson.Array):
                    return None
                count, height, width = len(images), len(first), len(first[0])
                del first
                flat = np.frombuffer(images.as_buffer(of_type="d"), dtype=np.float64)
            finally:
                del doc
                images = None
        except (ValueError, TypeError, RuntimeError, KeyError, IndexError):
            return None  # not JSON, not all numbers, or not this shape: the careful path says why
        return self._checked(flat, body, count, height, width)

    def fast_inputs(self, values: list[Any], body: bytes) -> list[np.ndarray] | None:
        first = values[0]
        if type(first) is not list or not first or type(first[0]) is not list:
            return None
        count, height, width = len(values), len(first), len(first[0])
        flat_values = itertools.chain.from_iterable(itertools.chain.from_iterable(values))
        try:
            flat = np.fromiter(flat_values, dtype=np.float64, count=count * height * width)
        except (ValueError, TypeError, OverflowError):
            return None
        return self._checked(flat, body, count, height, width)

    def _shape_ok(self, body: bytes, count: int, height: int, width: int) -> bool:
        """The manifest's size limits hold, and the body's skeleton (everything but the numbers)
        is exactly ``count`` images of height x width: no string, boolean, null or object hides in it."""
        opts = self.image_options
        if (
            width < 1
            or (opts.height is not None and height != opts.height)
            or (opts.width is not None and width != opts.width)
            or height * width > opts.max_pixels
        ):
            return False
        return body.translate(None, _NUMBER_AND_SPACE) == _predict_skeleton(count, height, width)

    def _checked(self, flat: np.ndarray, body: bytes, count: int, height: int, width: int) -> list[np.ndarray] | None:
        opts = self.image_options
        if flat.size != count * height * width or not self._shape_ok(body, count, height, width):
            return None
        if not np.isfinite(flat).all() or flat.min() < opts.min_value or flat.max() > opts.max_value:
            return None
        return list(flat.reshape(count, height, width))

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
