"""Reading a body of 2-D images fast: every number into one float64 buffer, the body's skeleton proving the shapes."""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import simdjson

_NUMBER_AND_SPACE = b"0123456789+-.eE \t\r\n"
"""What JSON numbers and insignificant whitespace are made of."""

Shape = tuple[int, int]
"""An image's (height, width)."""


@functools.lru_cache(maxsize=256)
def _image_skeleton(height: int, width: int) -> bytes:
    """``[[,,],[,,]]``: one image of height x width, numbers left out."""
    row = b"[" + b"," * (width - 1) + b"]"
    return b"[" + b",".join([row] * height) + b"]"


def _body_skeleton(shapes: list[Shape]) -> bytes:
    """``{"inputs":[[[,,],[,,]],...]}`` for images of these shapes, numbers left out."""
    return b'{"inputs":[' + b",".join(_image_skeleton(h, w) for h, w in shapes) + b"]}"


_local = threading.local()


def _parser() -> simdjson.Parser:
    """This thread's simdjson parser (a parser serves one document at a time)."""
    parser: simdjson.Parser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = simdjson.Parser()
    return parser


def _shape_of(image: Any) -> Shape | None:
    """(rows, length of the first row) of a parsed image, None if it is not a list of lists."""
    if not isinstance(image, list | simdjson.Array) or not len(image):
        return None
    first = image[0]
    if not isinstance(first, list | simdjson.Array) or not len(first):
        return None
    return len(image), len(first)


@dataclass(frozen=True)
class ImageLimits:
    """What a kind allows: which (height, width) and which values, ``low`` to ``high``."""

    shape_ok: Callable[[Shape], bool]
    low: float
    high: float


def _split(flat: np.ndarray, body: bytes, shapes: list[Shape], limits: ImageLimits) -> list[np.ndarray] | None:
    """``flat`` cut into images of ``shapes`` once every shape and value is allowed and the skeleton proves them."""
    if flat.size != sum(h * w for h, w in shapes) or not all(limits.shape_ok(shape) for shape in shapes):
        return None
    if not np.isfinite(flat).all() or flat.min() < limits.low or flat.max() > limits.high:
        return None
    if body.translate(None, _NUMBER_AND_SPACE) != _body_skeleton(shapes):
        return None  # a ragged row, or a string, boolean, null or object hiding among the numbers
    if len(set(shapes)) == 1:
        return list(flat.reshape(len(shapes), *shapes[0]))
    ends = np.cumsum([h * w for h, w in shapes])[:-1]
    return [part.reshape(shape) for part, shape in zip(np.split(flat, ends), shapes, strict=True)]


def images_from_body(body: bytes, max_items: int, limits: ImageLimits) -> list[np.ndarray] | None:
    """The images of a predict body ``{"inputs": [image, ...]}`` (1 to ``max_items``), each 2-D float64,
    when ``limits`` allow every shape and value and the body holds nothing but numbers in those shapes;
    else None (the careful path then says what is wrong).

    simdjson reads every number of the body straight into one float64 buffer; the body's skeleton
    then proves the shapes (the buffer alone would hide ragged rows).
    """
    try:
        doc = _parser().parse(body)
        try:
            images = doc["inputs"] if isinstance(doc, simdjson.Object) and len(doc) == 1 else None
            if not isinstance(images, simdjson.Array) or not 1 <= len(images) <= max_items:
                return None
            shapes = []
            for image in images:
                shape = _shape_of(image)
                del image
                if shape is None:
                    return None
                shapes.append(shape)
            flat = np.frombuffer(images.as_buffer(of_type="d"), dtype=np.float64)
        finally:
            del doc
            images = None
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError):
        return None  # not JSON, not all numbers, or not this shape: the careful path says why
    return _split(flat, body, shapes, limits)


def images_from_values(values: list[Any], body: bytes, limits: ImageLimits) -> list[np.ndarray] | None:
    """``values`` (the ``inputs`` decoded from JSON ``body``) as 2-D float64 images, proven as in
    ``images_from_body``; None when they are not."""
    shapes = []
    for value in values:
        if type(value) is not list:
            return None
        shape = _shape_of(value)
        if shape is None or type(value[0]) is not list:
            return None
        shapes.append(shape)
    flat_values = itertools.chain.from_iterable(itertools.chain.from_iterable(values))
    try:
        flat = np.fromiter(flat_values, dtype=np.float64, count=sum(h * w for h, w in shapes))
    except (ValueError, TypeError, OverflowError):
        return None
    return _split(flat, body, shapes, limits)
