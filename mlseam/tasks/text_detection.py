"""The ``text_detection`` task kind: a grayscale image in, the boxes around its text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
import pydantic
from pydantic import AfterValidator, Strict, with_config
from typing_extensions import TypedDict

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.tasks.base import DEFAULT_BOUND, TaskKind, bounded_number
from mlseam.tasks.image_body import ImageLimits, images_from_body, images_from_values

Pixels = Annotated[int, Strict(), pydantic.Field(ge=0, le=65535)]
"""A column or row index: a whole, non-negative number of pixels."""
Size = Annotated[int, Strict(), pydantic.Field(ge=1, le=65536)]
"""A box's width or height: at least one whole pixel."""


@with_config(pydantic.ConfigDict(extra="forbid"))
class TextBox(TypedDict):
    """A labelled box: ``x``, ``y`` its top-left column and row, then its size in pixels."""

    x: Pixels
    y: Pixels
    width: Size
    height: Size


@with_config(pydantic.ConfigDict(extra="forbid"))
class ScoredTextBox(TypedDict):
    """A predicted box, with the model's confidence that it holds text (0 to 1)."""

    x: Pixels
    y: Pixels
    width: Size
    height: Size
    score: Annotated[float, pydantic.Field(ge=0.0, le=1.0)]


_BOX_KEYS = ("x", "y", "width", "height")


class TextDetectionOptions(pydantic.BaseModel):
    """``inputs`` of a text_detection manifest: a fixed image size or ranges of sizes, the most
    pixels, the value range, and the most boxes a label may hold."""

    model_config = pydantic.ConfigDict(extra="forbid")

    height: int | None = pydantic.Field(default=None, ge=1, le=4096, description="rows of every image")
    width: int | None = pydantic.Field(default=None, ge=1, le=4096, description="columns of every image")
    min_height: int = pydantic.Field(default=1, ge=1, le=4096)
    max_height: int = pydantic.Field(default=4096, ge=1, le=4096)
    min_width: int = pydantic.Field(default=1, ge=1, le=4096)
    max_width: int = pydantic.Field(default=4096, ge=1, le=4096)
    max_pixels: int = pydantic.Field(default=1_000_000, ge=1, description="most height x width of an image")
    min_value: float = -DEFAULT_BOUND
    max_value: float = DEFAULT_BOUND
    max_boxes: int = pydantic.Field(default=1000, ge=1, le=100_000, description="most boxes in one label")

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> TextDetectionOptions:
        for fixed, low, high in (("height", "min_height", "max_height"), ("width", "min_width", "max_width")):
            if getattr(self, fixed) is not None and {low, high} & self.model_fields_set:
                raise ValueError(f"set {fixed} (a fixed size) or {low}/{high} (a range), not both")
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} {getattr(self, low)} exceeds {high} {getattr(self, high)}; swap or widen them")
        if self.min_value >= self.max_value:
            raise ValueError(f"min_value {self.min_value} must be below max_value {self.max_value}")
        return self

    @property
    def heights(self) -> tuple[int, int]:
        """The fewest and most rows an image may have."""
        return (self.height, self.height) if self.height is not None else (self.min_height, self.max_height)

    @property
    def widths(self) -> tuple[int, int]:
        """The fewest and most columns an image may have."""
        return (self.width, self.width) if self.width is not None else (self.min_width, self.max_width)


class TextDetection(TaskKind[np.ndarray, list[np.ndarray]]):
    """Input: a grayscale image as rows of numbers; label: the boxes around its text, ``[{x, y, width,
    height}, ...]`` (``[]`` for an image without text).

    The model sees a batch as ``list[numpy.ndarray]``, each array 2-D float64 (height, width), and
    labels as lists of ``{"x", "y", "width", "height"}`` dicts. ``predict`` returns, per image, a list
    of boxes with a ``score`` in 0..1 (``[]`` when it finds no text); ``mlseam.tasks.boxes`` scores them.
    """

    name: ClassVar[str] = "text_detection"
    table: ClassVar[str] = "text_detection_examples"
    options_model: ClassVar[type[pydantic.BaseModel]] = TextDetectionOptions
    output_field: ClassVar[str] = "boxes"
    output_type: ClassVar[Any] = list[ScoredTextBox]
    label_is_json: ClassVar[bool] = True

    @property
    def detection_options(self) -> TextDetectionOptions:
        assert isinstance(self.options, TextDetectionOptions)  # noqa: S101 - set by from_manifest
        return self.options

    def input_type(self) -> Any:
        opts = self.detection_options
        # Built at run time from the manifest: pydantic checks these types, mypy cannot.
        list_of: Any = list
        value = bounded_number(opts.min_value, opts.max_value)
        # Sizes are checked by _check_shape (messages that say what to fix) and declared for OpenAPI.
        (low_h, high_h), (low_w, high_w) = opts.heights, opts.widths
        widths = pydantic.Field(json_schema_extra={"minItems": low_w, "maxItems": high_w})
        heights = pydantic.Field(json_schema_extra={"minItems": low_h, "maxItems": high_h})
        return Annotated[list_of[Annotated[list_of[value], widths]], heights, AfterValidator(self._check_shape)]

    def _check_shape(self, rows: list[list[float]]) -> list[list[float]]:
        opts = self.detection_options
        (low_h, high_h), (low_w, high_w) = opts.heights, opts.widths
        if not low_h <= len(rows) <= high_h:
            raise ValueError(
                f"has {len(rows)} rows; an image has {_span(low_h, high_h)} rows: scale, crop or pad it to fit"
            )
        width = len(rows[0])
        for r, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(f"row {r} has {len(row)} values but row 0 has {width}; every row must be equally wide")
        if not low_w <= width <= high_w:
            raise ValueError(f"has {width} columns; an image has {_span(low_w, high_w)} columns: scale, crop or pad it")
        if len(rows) * width > opts.max_pixels:
            raise ValueError(
                f"has {len(rows) * width} pixels, more than the limit of {opts.max_pixels}; scale it down or split it"
            )
        return rows

    def label_type(self) -> Any:
        return Annotated[list[TextBox], pydantic.Field(max_length=self.detection_options.max_boxes)]

    def check_label_fits(self, value: np.ndarray, label: Any, *, index: int | None = None) -> None:
        height, width = value.shape
        for b, box in enumerate(label):
            for start, size, limit, along in (("x", "width", width, "columns"), ("y", "height", height, "rows")):
                if box[start] + box[size] <= limit:
                    continue
                field = f"label[{b}].{start if box[start] >= limit else size}"
                raise InvalidInputError(
                    f"{field}: the box spans {along} {box[start]} to {box[start] + box[size] - 1}, outside the "
                    f"image's {limit} {along} (0 to {limit - 1}); boxes must lie inside the image",
                    index=index,
                    field=field,
                )

    def coerce_input(self, value: Any, *, index: int | None = None) -> np.ndarray:
        return np.asarray(value, dtype=np.float64)

    def fast_body(self, body: bytes, max_items: int) -> list[np.ndarray] | None:
        return images_from_body(body, max_items, self._limits())

    def fast_inputs(self, values: list[Any], body: bytes) -> list[np.ndarray] | None:
        return images_from_values(values, body, self._limits())

    def read_stored_input(self, text: str) -> np.ndarray:
        # simdjson reads the numbers straight into an array: no Python list of a million floats.
        found = images_from_body(b'{"inputs":[' + text.encode() + b"]}", 1, self._limits())
        return found[0] if found is not None else super().read_stored_input(text)

    def _limits(self) -> ImageLimits:
        opts = self.detection_options
        return ImageLimits(self._shape_ok, opts.min_value, opts.max_value)

    def _shape_ok(self, shape: tuple[int, int]) -> bool:
        opts = self.detection_options
        (low_h, high_h), (low_w, high_w) = opts.heights, opts.widths
        height, width = shape
        return low_h <= height <= high_h and low_w <= width <= high_w and height * width <= opts.max_pixels

    def sample_input(self) -> np.ndarray:
        opts = self.detection_options
        (low_h, high_h), (low_w, high_w) = opts.heights, opts.widths
        height, width = min(max(low_h, 32), high_h), min(max(low_w, 32), high_w)
        while height * width > opts.max_pixels and (height > low_h or width > low_w):
            height, width = max(low_h, height // 2), max(low_w, width // 2)
        blank = min(max(0.0, opts.min_value), opts.max_value)
        return np.full((height, width), blank, dtype=np.float64)

    def to_batch(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(inputs)

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        # Filled one by one: np.asarray would turn equally long lists of boxes into a 2-D array.
        array = np.empty(len(labels), dtype=object)
        for i, label in enumerate(labels):
            array[i] = label
        return array

    def input_to_json(self, value: np.ndarray) -> Any:
        return value.tolist()

    def validate_output(self, value: object, *, index: int) -> list[dict[str, Any]]:
        if isinstance(value, Mapping | str | bytes) or not isinstance(value, Sequence | np.ndarray):
            raise ModelOutputError(
                f"predict output {index}: expected a list of boxes, got {type(value).__name__}; return one list "
                "per image of {'x', 'y', 'width', 'height', 'score'} dicts ([] when there is no text)"
            )
        return [_scored_box(box, f"predict output {index}, box {b}") for b, box in enumerate(value)]


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} to {high}"


def _scored_box(box: object, where: str) -> dict[str, Any]:
    """One predicted box as the API answers it, or ModelOutputError saying what is wrong."""
    if not isinstance(box, Mapping) or set(box) != {*_BOX_KEYS, "score"}:
        raise ModelOutputError(
            f"{where}: expected a dict with exactly x, y, width, height and score, got {_describe(box)}"
        )
    scored: dict[str, Any] = {}
    for key in _BOX_KEYS:
        number = box[key].item() if isinstance(box[key], np.generic) else box[key]
        if isinstance(number, bool) or not isinstance(number, int | float) or not float(number).is_integer():
            raise ModelOutputError(f"{where}: {key} is {number!r}; give whole pixels (an int)")
        scored[key] = int(number)
        if scored[key] < (1 if key in ("width", "height") else 0):
            raise ModelOutputError(f"{where}: {key} is {scored[key]}; x and y are at least 0, width and height 1")
    score = box["score"]
    if isinstance(score, bool) or not isinstance(score, int | float | np.number) or not 0.0 <= float(score) <= 1.0:
        raise ModelOutputError(f"{where}: score is {score!r}; give the box's confidence as a number from 0 to 1")
    scored["score"] = round(float(score), 6)
    return scored


def _describe(box: object) -> str:
    if isinstance(box, Mapping):
        return "keys " + ", ".join(sorted(str(key) for key in box))
    return type(box).__name__
