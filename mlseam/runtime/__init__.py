"""Running a model: save or load a version (signature and sha256 checks, allow-listed unpickling, warm-up), predict.

The API, the batch worker, the retrain job and the conformance checks all run models through
this package, so a model behaves the same wherever it runs.
"""

from mlseam.predictionlog import new_prediction_ids
from mlseam.runtime.champion import ChampionWatcher, ModelSlot, SlotState
from mlseam.runtime.coalescer import Arrival, PredictCoalescer
from mlseam.runtime.codec import dump_model, load_model
from mlseam.runtime.loading import LoadedModel, load_artifact, load_version, recorded_signature, warm_up
from mlseam.runtime.outputs import UnusableOutput, predict_outputs
from mlseam.runtime.pinned import PinnedVersions
from mlseam.runtime.probabilities import PROBABILITY_DIGITS, Probabilities, class_names, predict_probabilities
from mlseam.runtime.recorder import PredictionRecorder, build_recorder
from mlseam.runtime.saving import store_model

__all__ = [
    "PROBABILITY_DIGITS",
    "Arrival",
    "ChampionWatcher",
    "LoadedModel",
    "ModelSlot",
    "PinnedVersions",
    "PredictCoalescer",
    "PredictionRecorder",
    "Probabilities",
    "SlotState",
    "UnusableOutput",
    "build_recorder",
    "class_names",
    "dump_model",
    "load_artifact",
    "load_model",
    "load_version",
    "new_prediction_ids",
    "predict_outputs",
    "predict_probabilities",
    "recorded_signature",
    "store_model",
    "warm_up",
]
