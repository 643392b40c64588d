"""A model's batch of predictions turned into the API's outputs, checked once per batch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from mlseam.contract import Model
from mlseam.manifest import Service
from mlseam.runtime.probabilities import predict_probabilities


class UnusableOutput:
    """Stands in a batch's outputs for a prediction that is not a finite number.

    Such an output comes from an input the model cannot handle (values far outside what it
    was trained on): only the request holding that input is refused, with 422.
    """

    def __init__(self, value: object) -> None:
        self.value = value


def _non_finite(value: object) -> object | None:
    """The first number in ``value`` that is not finite (looking inside a list of boxes too), else None."""
    if isinstance(value, float | np.floating):
        return None if math.isfinite(value) else value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return next((bad for item in value if (bad := _non_finite(item)) is not None), None)
    return None


def _spliced(text: bytes, prediction_id: str) -> bytes:
    """The JSON object ``text`` with ``prediction_id`` as its last field, spliced in, nothing re-encoded."""
    return b'%s,"prediction_id":"%s"}' % (text[:-1], prediction_id.encode())


def predict_outputs(
    service: Service, model: Model, inputs: list[Any], prediction_ids: Sequence[str] | None = None
) -> list[Any]:
    """``{field: value}`` per validated input; classifiers with probabilities add them.

    Outputs are ready for ``orjson.dumps``: a dict, or an ``orjson.Fragment`` of the same JSON;
    with ``prediction_ids`` (one per input) each output carries its own as ``prediction_id``.

    A classifier that defines ``predict_proba`` is asked that alone: each output is its most
    probable label with every probability (the retrain job has checked that ``predict`` agrees).
    A non-finite prediction is the input's fault and becomes ``UnusableOutput`` (422 for that
    request only); any other bad output is the model's bug and raises (the batch fails, 500).
    """
    kind = service.kind
    batch = kind.to_batch(inputs)
    probabilities = predict_probabilities(model, batch, len(inputs)) if kind.has_probabilities else None
    if probabilities is not None:
        finite = probabilities.finite.tolist()
        texts = probabilities.json_outputs()
        if prediction_ids is not None:
            texts = [_spliced(text, pid) for text, pid in zip(texts, prediction_ids, strict=True)]
        return [
            orjson.Fragment(text) if ok else UnusableOutput(math.nan) for text, ok in zip(texts, finite, strict=True)
        ]
    raw = kind.output_items(model.predict(batch), len(inputs))
    field = kind.output_field
    outputs: list[Any] = []
    for i, value in enumerate(raw):
        bad = _non_finite(value)
        if bad is not None:
            outputs.append(UnusableOutput(bad))
            continue
        output = {field: kind.validate_output(value, index=i)}
        if prediction_ids is not None:
            output["prediction_id"] = prediction_ids[i]
        outputs.append(output)
    return outputs
