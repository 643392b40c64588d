"""The ``ocr`` task kind: a grayscale strip image of variable width in, the text it shows out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
import pydantic
from pydantic import AfterValidator

from mlseam.errors import ModelOutputError
from mlseam.tasks.base import DEFAULT_BOUND, TaskKind, bounded_number, plain_text


class OcrOptions(pydantic.BaseModel):
    """``inputs`` of an ocr manifest: the strips' fixed height, their width range, value range
    and what a label may hold."""

    model_config = pydantic.ConfigDict(extra="forbid")

    height: int = pydantic.Field(ge=1, le=1024, description="rows of every strip")
    min_width: int = pydantic.Field(default=1, ge=1, le=65536)
    max_width: int = pydantic.Field(default=4096, ge=1, le=65536)
    min_value: float = -DEFAULT_BOUND
    max_value: float = DEFAULT_BOUND
    max_length: int = pydantic.Field(default=100, ge=1, le=10000, description="most characters in a label")
    alphabet: str | None = pydantic.Field(default=None, min_length=1, description="the characters labels may use")

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> OcrOptions:
        if self.min_width > self.max_width:
            raise ValueError(f"min_width {self.min_width} exceeds max_width {self.max_width}; swap or widen them")
        if self.min_value >= self.max_value:
            raise ValueError(f"min_value {self.min_value} must be below max_value {self.max_value}")
        if self.alphabet is not None and len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet {self.alphabet!r} holds a character twice; list each character once")
        return self


class Ocr(TaskKind[np.ndarray, list[np.ndarray]]):
    """Input: a grayscale strip as ``height`` rows of equally many numbers; label: its text.

    The model sees a batch as ``list[numpy.ndarray]``, each array 2-D float64 of shape
    (height, width), widths varying between strips. ``predict`` returns one string per strip
    (an empty string when it reads nothing).
    """

    name: ClassVar[str] = "ocr"
    table: ClassVar[str] = "ocr_examples"
    options_model: ClassVar[type[pydantic.BaseModel]] = OcrOptions
    output_field: ClassVar[str] = "text"
    output_type: ClassVar[Any] = str

    @property
    def ocr_options(self) -> OcrOptions:
        assert isinstance(self.options, OcrOptions)  # noqa: S101 - set by from_manifest
        return self.options

    def input_type(self) -> Any:
        opts = self.ocr_options
        # Built at run time from the manifest: pydantic checks these types, mypy cannot.
        list_of: Any = list
        value = bounded_number(opts.min_value, opts.max_value)
        # Sizes are checked by _check_shape (messages that say what to fix) and declared for OpenAPI.
        widths = pydantic.Field(json_schema_extra={"minItems": opts.min_width, "maxItems": opts.max_width})
        heights = pydantic.Field(json_schema_extra={"minItems": opts.height, "maxItems": opts.height})
        return Annotated[list_of[Annotated[list_of[value], widths]], heights, AfterValidator(self._check_shape)]

    def _check_shape(self, rows: list[list[float]]) -> list[list[float]]:
        opts = self.ocr_options
        if len(rows) != opts.height:
            raise ValueError(
                f"has a height of {len(rows)}; a strip is exactly {opts.height} rows high: "
                f"scale it or pad it with blank rows to {opts.height}"
            )
        width = len(rows[0])
        for r, row in enumerate(rows):
            if len(row) != width:
                raise ValueError(
                    f"row {r} has {len(row)} values but row 0 has {width}; every row of a strip must be equally wide"
                )
        if width < opts.min_width:
            raise ValueError(
                f"has a width of {width}; a strip is {opts.min_width} to {opts.max_width} columns wide: "
                "pad it with blank columns"
            )
        if width > opts.max_width:
            raise ValueError(
                f"has a width of {width}; a strip is {opts.min_width} to {opts.max_width} columns wide: "
                "crop its margins or split it into several strips"
            )
        return rows

    def label_type(self) -> Any:
        opts = self.ocr_options
        text = plain_text(opts.max_length)
        if opts.alphabet is None:
            return text
        return Annotated[text, AfterValidator(self._check_alphabet)]

    def _check_alphabet(self, text: str) -> str:
        alphabet = self.ocr_options.alphabet or ""
        outside = sorted(set(text) - set(alphabet), key=text.index)
        if outside:
            raise ValueError(
                f"{''.join(outside)!r} not in the alphabet {alphabet!r}; "
                "label the text with those characters only (or widen inputs.alphabet)"
            )
        return text

    def coerce_input(self, value: Any, *, index: int | None = None) -> np.ndarray:
        return np.asarray(value, dtype=np.float64)

    def fast_inputs(self, values: list[Any], body: bytes) -> list[np.ndarray] | None:
        # numpy would read booleans and numeric strings as numbers: such bodies take the careful
        # path. The only string a body of numbers holds is its key, "inputs".
        if body.count(b'"') != 2 or b"true" in body or b"false" in body or b"null" in body:
            return None
        opts = self.ocr_options
        strips: list[np.ndarray] = []
        for value in values:
            if type(value) is not list or len(value) != opts.height:
                return None
            try:
                strip = np.asarray(value, dtype=np.float64)
            except (ValueError, TypeError, OverflowError):
                return None  # ragged rows or something that is not a number
            if strip.ndim != 2 or not opts.min_width <= strip.shape[1] <= opts.max_width:
                return None
            if not np.isfinite(strip).all() or strip.min() < opts.min_value or strip.max() > opts.max_value:
                return None
            strips.append(strip)
        return strips

    def sample_input(self) -> np.ndarray:
        opts = self.ocr_options
        blank = min(max(0.0, opts.min_value), opts.max_value)
        return np.full((opts.height, opts.min_width), blank, dtype=np.float64)

    def to_batch(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(inputs)

    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        return np.asarray(labels, dtype=object)

    def input_to_json(self, value: np.ndarray) -> Any:
        return value.tolist()

    def validate_output(self, value: object, *, index: int) -> str:
        if isinstance(value, str):
            return str(value)
        raise ModelOutputError(
            f"predict output {index}: expected the text as a string, got {type(value).__name__}; "
            "return one str per strip ('' when nothing is read)"
        )
