"""The prediction log: every sampled request's inputs, outputs and version, kept N days.

The API and the batch worker write it (through ``mlseam.runtime.recorder``, off the request
path); joining labels to predictions and live monitoring read it.
"""

from mlseam.predictionlog.memory import InMemoryPredictionLog
from mlseam.predictionlog.records import (
    LoggedPrediction,
    LoggedRequest,
    PredictionBatch,
    new_prediction_ids,
    split_prediction_id,
)
from mlseam.predictionlog.store import PostgresPredictionLog, PredictionLog, partition_day

__all__ = [
    "InMemoryPredictionLog",
    "LoggedPrediction",
    "LoggedRequest",
    "PostgresPredictionLog",
    "PredictionBatch",
    "PredictionLog",
    "new_prediction_ids",
    "partition_day",
    "split_prediction_id",
]
