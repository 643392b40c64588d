"""A classifier's ``predict_proba`` checked once per call, and the labels the API derives from it.

Shared by the API (which answers the most probable label with every probability) and by the
retrain job (which refuses a candidate whose ``predict`` would disagree with what is served).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from mlseam.errors import ModelOutputError

PROBABILITY_DIGITS = 6
"""Probabilities are answered rounded to this many decimal places."""
_SLACK = 1e-9


@dataclass(frozen=True)
class Probabilities:
    """One batch's probabilities: ``matrix[i, j]`` is input i's probability of ``classes[j]``."""

    classes: list[str]
    matrix: np.ndarray
    finite: np.ndarray
    """Per input, whether its row holds only finite numbers (a row that does not is unusable)."""

    def labels(self) -> list[str]:
        """Per input, the most probable class (the first in ``classes`` order on a tie)."""
        return [self.classes[j] for j in self._best().tolist()]

    def json_outputs(self) -> list[bytes]:
        """Per input, ``{"label": ..., "probabilities": {class: probability}}`` as JSON text.

        Each probability is written with exactly ``PROBABILITY_DIGITS`` decimals ("0.013571",
        "1.000000"), which parses to the same float as rounding it to that many digits
        (meaningless in a row that is not finite). Fixed-width numbers let numpy write every
        row's probabilities at once into one byte matrix; only the label differs per row.
        """
        if not len(self.matrix):
            return []
        return _writer(tuple(self.classes)).write(self.matrix, self._best())

    def _best(self) -> np.ndarray:
        return np.asarray(np.where(self.finite[:, None], self.matrix, 0.0).argmax(axis=1))


_SCALE = 10**PROBABILITY_DIGITS
_THREE_DIGITS = np.array([b"%03d" % n for n in range(1000)], dtype="S3")
"""``_THREE_DIGITS[n]`` is ``n`` (0-999) as three ASCII digits: the decimals are written 3 at a time."""


class _ProbabilityWriter:
    """The byte layout of one output row for a fixed list of classes, reused across batches.

    A row is ``{"label":<name>,"probabilities":{<name>:0.dddddd,...}}``. Labels shorter than
    the longest are followed by spaces (JSON whitespace), so every row has the same width and
    numpy writes a whole batch into one byte matrix.
    """

    def __init__(self, classes: tuple[str, ...]) -> None:
        names = [orjson.dumps(name) for name in classes]
        label_width = max(len(name) for name in names)
        self.labels = np.frombuffer(b"".join(name.ljust(label_width) for name in names), dtype=np.uint8).reshape(
            len(names), label_width
        )
        template = bytearray(b'{"label":')
        self.label_at = len(template)
        template += b" " * label_width + b',"probabilities":{'
        units: list[int] = []
        for j, name in enumerate(names):
            template += (b"," if j else b"") + name + b":"
            units.append(len(template))
            template += b"0." + b"0" * PROBABILITY_DIGITS
        template += b"}}"
        self.template = np.frombuffer(bytes(template), dtype=np.uint8)
        self.units = np.asarray(units)
        # Columns of each class's decimals, three at a time: (classes, 3) for each group.
        self.groups = [self.units[:, None] + 2 + start + np.arange(3) for start in range(0, PROBABILITY_DIGITS, 3)]

    def write(self, matrix: np.ndarray, best: np.ndarray) -> list[bytes]:
        count = matrix.shape[0]
        scaled = np.rint(np.clip(np.nan_to_num(matrix), 0.0, 1.0) * _SCALE).astype(np.int32)
        units, decimals = np.divmod(scaled, _SCALE)
        rows = np.broadcast_to(self.template, (count, self.template.size)).copy()
        rows[:, self.label_at : self.label_at + self.labels.shape[1]] = self.labels[best]
        rows[:, self.units] = units + ord("0")
        for i, columns in enumerate(reversed(self.groups)):
            group = decimals // 1000**i % 1000
            rows[:, columns] = _THREE_DIGITS.take(group).view(np.uint8).reshape(*group.shape, 3)
        text = rows.tobytes()
        size = self.template.size
        return [text[start : start + size] for start in range(0, count * size, size)]


@lru_cache(maxsize=64)  # models come and go with reloads; keep the writers of the few in use
def _writer(classes: tuple[str, ...]) -> _ProbabilityWriter:
    return _ProbabilityWriter(classes)


def class_names(model: object) -> list[str]:
    """The model's ``classes`` as distinct strings, or ModelOutputError saying what to set."""
    classes = getattr(model, "classes", None)
    if classes is None or isinstance(classes, str | bytes):
        raise ModelOutputError(
            f"{type(model).__name__}.predict_proba needs `self.classes`: the labels its columns stand for, set by fit"
        )
    names = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    if len(set(names)) != len(names):
        raise ModelOutputError(f"{type(model).__name__}.classes holds a label twice: {names}")
    return names


def predict_probabilities(model: Any, batch: Any, count: int) -> Probabilities | None:
    """``model.predict_proba(batch)`` checked for ``count`` inputs; None when the model has none.

    A wrong type, shape or range is the model's bug: ModelOutputError naming it.
    """
    raw = model.predict_proba(batch) if hasattr(model, "predict_proba") else None
    if raw is None:
        return None
    names = class_names(model)
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ModelOutputError(f"predict_proba returned {type(raw).__name__}; return an array of numbers") from exc
    if matrix.shape != (count, len(names)):
        raise ModelOutputError(
            f"predict_proba returned shape {matrix.shape} for {count} inputs and {len(names)} classes; "
            "return one row per input and one column per entry of `classes`"
        )
    finite = np.asarray(np.isfinite(matrix).all(axis=1))
    usable = matrix[finite]
    if usable.size and (usable.min() < -_SLACK or usable.max() > 1 + _SLACK):
        raise ModelOutputError(
            f"predict_proba returned values from {usable.min()} to {usable.max()}; probabilities lie in [0, 1]"
        )
    return Probabilities(names, matrix, finite)
