"""Each version's quality on live traffic: its own ``evaluate`` over the predictions that got a label."""

from __future__ import annotations

import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from mlseam.errors import InvalidInputError
from mlseam.examples import ExamplesStore, Selection, StoredExample
from mlseam.manifest import Service
from mlseam.predictionlog import LoggedPrediction, PredictionLog
from mlseam.tasks import Examples

log = logging.getLogger("mlseam.monitor")

MAX_LABELLED = 200_000
"""Most labelled examples read per run (the newest ones win when there are more)."""


@dataclass(frozen=True)
class LabelledPrediction:
    """A logged prediction and the label a client later sent for it."""

    prediction: LoggedPrediction
    label: Any
    labelled_at: datetime


def labelled_predictions(
    service: Service, examples: ExamplesStore, predictions: PredictionLog
) -> list[LabelledPrediction]:
    """Every current, unquarantined example that labels a logged prediction, joined to that prediction.

    A label names the champion's prediction; the same label also grades each challenger's
    prediction of that input in shadow (its ``shadow_of`` is the champion's id).
    """
    rows = examples.list_examples(service.name, service.kind, Selection(labels_a_prediction=True), limit=10_000_000)
    current = [r for r in rows if r.prediction_id and r.superseded_by is None and not r.quarantined]
    current = current[-MAX_LABELLED:]
    found = predictions.lookup(service.name, [r.prediction_id for r in current if r.prediction_id])
    joined = [_joined(found[r.prediction_id], r) for r in current if r.prediction_id in found]
    shadows = predictions.shadows_of(service.name, [item.prediction.prediction_id for item in joined])
    in_shadow = [
        LabelledPrediction(prediction=shadow, label=item.label, labelled_at=item.labelled_at)
        for item in joined
        for shadow in shadows.get(item.prediction.prediction_id, [])
    ]
    return joined + in_shadow


def _joined(prediction: LoggedPrediction, row: StoredExample) -> LabelledPrediction:
    return LabelledPrediction(prediction=prediction, label=row.label, labelled_at=row.created_at)


def by_version(labelled: Sequence[LabelledPrediction]) -> dict[str, list[LabelledPrediction]]:
    """The labelled predictions of each version that answered them."""
    groups: dict[str, list[LabelledPrediction]] = defaultdict(list)
    for item in labelled:
        groups[item.prediction.version].append(item)
    return dict(groups)


def as_examples(service: Service, labelled: Sequence[LabelledPrediction]) -> Examples[Any]:
    """The labelled predictions as ``evaluate`` receives a holdout (inputs revalidated as the API did)."""
    kind = service.kind
    inputs, labels, ids = [], [], []
    for index, item in enumerate(labelled):
        try:
            inputs.append(kind.validate_input(item.prediction.input))
            labels.append(kind.validate_label(item.label))
        except InvalidInputError:
            log.warning("%s: prediction %s no longer validates; left out", service.name, item.prediction.prediction_id)
            continue
        ids.append(index)
    return Examples(ids=np.asarray(ids, dtype=np.int64), inputs=kind.to_batch(inputs), labels=kind.label_array(labels))


def label_lag(labelled: Sequence[LabelledPrediction]) -> dict[str, float]:
    """Seconds from prediction to label: median and 90th percentile."""
    lags = sorted(max(0.0, (i.labelled_at - i.prediction.logged_at).total_seconds()) for i in labelled)
    if not lags:
        return {}
    p90 = lags[min(len(lags) - 1, math.ceil(0.9 * len(lags)) - 1)]
    return {"median_s": round(statistics.median(lags), 3), "p90_s": round(p90, 3)}
