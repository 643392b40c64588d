"""Jobs that only orchestrate the stores: the retrain job and manual champion moves."""

from mlseam.training.lineage import artifact_key
from mlseam.training.promotion import approve, promote, reject, rollback, rollback_target
from mlseam.training.retrain import EXIT_CODES, Outcome, Retrainer
from mlseam.training.seed import seed_service
from mlseam.training.split import holdout_digest, holdout_mask

__all__ = [
    "EXIT_CODES",
    "Outcome",
    "Retrainer",
    "approve",
    "artifact_key",
    "holdout_digest",
    "holdout_mask",
    "promote",
    "reject",
    "rollback",
    "rollback_target",
    "seed_service",
]
