"""A classifier's ``predict_proba`` checked once per batch, and the labels the API derives from it.

Shared by the API (which answers the most probable label with every probability) and by the
retrain job (which refuses a candidate whose ``predict`` would disagree with what is served).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from mlseam.errors import InvalidInputError

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

        Probabilities are rounded for the answer (meaningless in a row that is not finite). The
        whole matrix is written by orjson at once and cut into numbers, then each row is joined
        with its keys: building a dict per input costs more than predicting it.
        """
        count, width = self.matrix.shape
        if count == 0:
            return []
        rounded = np.clip(np.nan_to_num(self.matrix), 0.0, 1.0).round(PROBABILITY_DIGITS)
        numbers = orjson.dumps(rounded, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].replace(b"],[", b",").split(b",")
        names = [orjson.dumps(name) for name in self.classes]
        openers = [b'{"label":' + name + b',"probabilities":{' + names[0] + b":" for name in names]
        keys = [b"," + name + b":" for name in names]
        parts = keys * count
        parts[::width] = [openers[j] for j in self._best().tolist()]
        pieces: list[bytes] = [b""] * (2 * count * width)
        pieces[::2] = parts
        pieces[1::2] = numbers
        step = 2 * width
        return [b"".join(pieces[start : start + step]) + b"}}" for start in range(0, len(pieces), step)]

    def _best(self) -> np.ndarray:
        return np.asarray(np.where(self.finite[:, None], self.matrix, 0.0).argmax(axis=1))


def class_names(model: object) -> list[str]:
    """The model's ``classes`` as distinct strings, or InvalidInputError saying what to set."""
    classes = getattr(model, "classes", None)
    if classes is None or isinstance(classes, str | bytes):
        raise InvalidInputError(
            f"{type(model).__name__}.predict_proba needs `self.classes`: the labels its columns stand for, set by fit"
        )
    names = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{type(model).__name__}.classes holds a label twice: {names}")
    return names


def predict_probabilities(model: Any, batch: Any, count: int) -> Probabilities | None:
    """``model.predict_proba(batch)`` checked for ``count`` inputs; None when the model has none.

    A wrong type, shape or range is the model's bug: InvalidInputError naming it.
    """
    raw = model.predict_proba(batch) if hasattr(model, "predict_proba") else None
    if raw is None:
        return None
    names = class_names(model)
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"predict_proba returned {type(raw).__name__}; return an array of numbers") from exc
    if matrix.shape != (count, len(names)):
        raise InvalidInputError(
            f"predict_proba returned shape {matrix.shape} for {count} inputs and {len(names)} classes; "
            "return one row per input and one column per entry of `classes`"
        )
    finite = np.asarray(np.isfinite(matrix).all(axis=1))
    usable = matrix[finite]
    if usable.size and (usable.min() < -_SLACK or usable.max() > 1 + _SLACK):
        raise InvalidInputError(
            f"predict_proba returned values from {usable.min()} to {usable.max()}; probabilities lie in [0, 1]"
        )
    return Probabilities(names, matrix, finite)
