"""The prediction log: every sampled prediction's input, output and version, kept N days.

The API and the batch worker write it (through ``mlseam.runtime.recorder``, off the request
path); joining labels to predictions and live monitoring read it.
"""

from mlseam.predictionlog.memory import InMemoryPredictionLog
from mlseam.predictionlog.store import LoggedPrediction, PostgresPredictionLog, PredictionLog, partition_day

__all__ = ["InMemoryPredictionLog", "LoggedPrediction", "PostgresPredictionLog", "PredictionLog", "partition_day"]
