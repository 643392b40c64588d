"""What is measured of each task kind's inputs and outputs: one array of values per statistic."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from mlseam.drift.profile import Binned
from mlseam.tasks import TASK_KINDS

INTENSITY_BINS = 16
"""Equal-width bins of the pixel intensity histogram over the declared value range."""
INK_THRESHOLD_SHARE = 0.1
"""A pixel is ink when it lies above this share of the value range (0 blank to 16 black: above 1.6)."""
PIXEL_CHUNK = 1_000
"""Images whose pixels are counted in one numpy call: bounds the memory of large scans."""

Measured = dict[str, np.ndarray | Binned]
"""Per statistic: its values, one per item (binned later), or a histogram counted already."""

IMAGE_KINDS = ("image_classification", "ocr", "text_detection")
TABULAR_KINDS = ("tabular_regression", "tabular_classification")


def feature_matrix(batch: Any, features: Sequence[str]) -> np.ndarray:
    """Tabular inputs as a float matrix: the model's matrix, or rows as lists or ``{feature: value}``."""
    if isinstance(batch, np.ndarray):
        return batch.astype(np.float64, copy=False).reshape(len(batch), len(features))
    rows = [[row[f] for f in features] if isinstance(row, Mapping) else row for row in batch]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(features))


def measure_tabular(batch: Any, params: Mapping[str, Any]) -> Measured:
    """One statistic per feature, named after it: the feature's values."""
    features: list[str] = params["features"]
    matrix = feature_matrix(batch, features)
    return {name: matrix[:, j] for j, name in enumerate(features)}


def _chunks(images: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    for start in range(0, len(images), PIXEL_CHUNK):
        yield np.concatenate([image.ravel() for image in images[start : start + PIXEL_CHUNK]])


def intensity_edges(params: Mapping[str, Any]) -> np.ndarray:
    """The inner edges of ``INTENSITY_BINS`` equal bins from ``params['low']`` to ``params['high']``."""
    return np.linspace(float(params["low"]), float(params["high"]), INTENSITY_BINS + 1)[1:-1]


def measure_images(batch: Any, params: Mapping[str, Any]) -> Measured:
    """Every pixel's intensity (counted over the value range), and per image its ink share and size."""
    images = [np.asarray(image, dtype=np.float64) for image in batch]
    edges = intensity_edges(params)
    counts = np.zeros(INTENSITY_BINS, dtype=np.int64)
    for pixels in _chunks(images):
        counts += np.bincount(np.searchsorted(edges, pixels, side="right"), minlength=INTENSITY_BINS)
    ink = float(params["ink_threshold"])
    return {
        "intensity": Binned.from_counts(edges, counts),
        "ink_share": np.array([float((image > ink).mean()) for image in images]),
        "height": np.array([image.shape[0] for image in images], dtype=np.float64),
        "width": np.array([image.shape[1] for image in images], dtype=np.float64),
    }


def image_params(low: float, high: float) -> dict[str, float]:
    """The params ``measure_images`` reads for pixel values within ``low``..``high``."""
    return {"low": low, "high": high, "ink_threshold": low + INK_THRESHOLD_SHARE * (high - low)}


def output_values(kind: str, outputs: Sequence[Any]) -> list[Any]:
    """Each output's value: the API's ``{"label": ...}`` answers are unwrapped, bare values kept."""
    name = TASK_KINDS[kind].output_field
    return [item[name] if isinstance(item, Mapping) and name in item else item for item in outputs]


def measure_labels(kind: str, outputs: Sequence[Any]) -> Measured:
    """The predicted label, a category."""
    return {"label": np.asarray([str(v) for v in output_values(kind, outputs)], dtype=object)}


def measure_values(kind: str, outputs: Sequence[Any]) -> Measured:
    """The predicted value."""
    return {"value": np.asarray(output_values(kind, outputs), dtype=np.float64)}


def measure_texts(kind: str, outputs: Sequence[Any]) -> Measured:
    """The number of characters read."""
    return {"text_length": np.array([len(str(v)) for v in output_values(kind, outputs)], dtype=np.float64)}


def measure_boxes(kind: str, outputs: Sequence[Any]) -> Measured:
    """The number of boxes found per image."""
    return {"box_count": np.array([len(v) for v in output_values(kind, outputs)], dtype=np.float64)}


INPUT_MEASURES: dict[str, Callable[[Any, Mapping[str, Any]], Measured]] = {
    **dict.fromkeys(TABULAR_KINDS, measure_tabular),
    **dict.fromkeys(IMAGE_KINDS, measure_images),
}
"""How each task kind's inputs are measured, given the profile's params."""

OUTPUT_MEASURES: dict[str, Callable[[str, Sequence[Any]], Measured]] = {
    "image_classification": measure_labels,
    "tabular_classification": measure_labels,
    "tabular_regression": measure_values,
    "ocr": measure_texts,
    "text_detection": measure_boxes,
}
"""How each task kind's outputs are measured."""
