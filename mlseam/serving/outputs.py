"""A model's batch of predictions turned into the API's outputs, checked once per batch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlseam.contract import Model
from mlseam.errors import InvalidInputError
from mlseam.manifest import Service


class UnusableOutput:
    """Stands in a batch's outputs for a prediction that is not a finite number.

    Such an output comes from an input the model cannot handle (values far outside what it
    was trained on): only the request holding that input is refused, with 422.
    """

    def __init__(self, value: object) -> None:
        self.value = value


def _non_finite(value: object) -> bool:
    return isinstance(value, float | np.floating) and not math.isfinite(value)


PROBABILITY_DIGITS = 6
"""Probabilities are answered rounded to this many decimal places."""
_SLACK = 1e-9


def _class_names(model: Model) -> list[str]:
    classes = getattr(model, "classes", None)
    if classes is None or isinstance(classes, str | bytes):
        raise InvalidInputError(
            f"{type(model).__name__}.predict_proba needs `self.classes`: the labels its columns stand for, set by fit"
        )
    names = [str(c.item() if isinstance(c, np.generic) else c) for c in classes]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{type(model).__name__}.classes holds a label twice: {names}")
    return names


def _add_probabilities(model: Model, probabilities: object, outputs: list[Any]) -> None:
    """Each output's ``probabilities`` from one ``(n_inputs, n_classes)`` matrix, checked as a whole."""
    names = _class_names(model)
    try:
        matrix = np.asarray(probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"predict_proba returned {type(probabilities).__name__}; return an array of numbers"
        ) from exc
    if matrix.shape != (len(outputs), len(names)):
        raise InvalidInputError(
            f"predict_proba returned shape {matrix.shape} for {len(outputs)} inputs and {len(names)} classes; "
            f"return one row per input and one column per entry of `classes`"
        )
    finite = np.asarray(np.isfinite(matrix).all(axis=1))
    usable = matrix[finite]
    if usable.size and (usable.min() < -_SLACK or usable.max() > 1 + _SLACK):
        raise InvalidInputError(
            f"predict_proba returned values from {usable.min()} to {usable.max()}; probabilities lie in [0, 1]"
        )
    rows = np.clip(matrix, 0.0, 1.0).round(PROBABILITY_DIGITS).tolist()
    for i, output in enumerate(outputs):
        if isinstance(output, UnusableOutput):
            continue
        if not finite[i]:
            outputs[i] = UnusableOutput(math.nan)
        else:
            output["probabilities"] = dict(zip(names, rows[i], strict=True))


def predict_outputs(service: Service, model: Model, inputs: list[Any]) -> list[Any]:
    """``{field: value}`` (plus ``probabilities`` when the model gives them) per validated input.

    A non-finite prediction is the input's fault and becomes ``UnusableOutput`` (422 for that
    request only); any other bad output is the model's bug and raises (the batch fails, 500).
    """
    task = service.task
    batch = task.to_batch(inputs)
    raw = task.output_items(model.predict(batch), len(inputs))
    field = task.output_field
    outputs: list[Any] = [
        UnusableOutput(value) if _non_finite(value) else {field: task.validate_output(value, index=i)}
        for i, value in enumerate(raw)
    ]
    if task.has_probabilities:
        probabilities = model.predict_proba(batch)
        if probabilities is not None:
            _add_probabilities(model, probabilities, outputs)
    return outputs
