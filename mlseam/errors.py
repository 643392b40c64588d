"""The one exception tree of mlseam; catch the narrowest class that you can act on.

```
MlseamError                      anything mlseam raises on purpose; its message says what to do
├── ConfigError                  a setting, a service.yaml or a model class is wrong: fix it, re-run
│   ├── ManifestError            service.yaml is missing, unreadable or has a bad field
│   ├── ContractError            a model class breaks the mlseam.Model contract
│   └── UnknownServiceError      no services/<name>/service.yaml for that name
├── InvalidInputError            an input or label fails its task kind's validation
├── StoreError                   an external store (PostgreSQL, DynamoDB, S3) failed or is unreachable
│   ├── ArtifactIntegrityError   an artifact's sha256 differs from the registry: never loaded
│   ├── VersionNotFoundError     no such model version in the registry
│   └── PromotionConflictError   the champion moved under a conditional write: re-read and retry
├── PromotionError               a requested champion move is not allowed (no artifact, nothing to undo)
└── TrainingError                a retrain could not produce a usable candidate
    └── QualityGateError         too few examples, one label class, missing or NaN metrics
```
"""

from __future__ import annotations


class MlseamError(Exception):
    """Base of every error mlseam raises on purpose; the message says what to do next."""


class ConfigError(MlseamError):
    """A setting, a service manifest or a model class is wrong; fix it and re-run."""


class ManifestError(ConfigError):
    """A ``service.yaml`` is missing, unreadable or has a bad field (named in the message)."""


class ContractError(ConfigError):
    """A model class breaks the ``mlseam.Model`` contract (the message names the rule)."""


class UnknownServiceError(ConfigError):
    """No ``services/<name>/service.yaml`` exists for the requested service."""


class InvalidInputError(MlseamError):
    """An input or a label fails its task kind's validation.

    ``index`` is the position of the offending item in its batch (when known) and ``field``
    the path inside it, so an API can answer 422 naming both.
    """

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field


class StoreError(MlseamError):
    """An external store (PostgreSQL, DynamoDB, S3) failed or could not be reached."""


class ArtifactIntegrityError(StoreError):
    """An artifact's bytes do not match the sha256 the registry recorded; it is never loaded."""


class VersionNotFoundError(StoreError):
    """The requested model version does not exist in the registry."""


class PromotionConflictError(StoreError):
    """The champion pointer moved between reading and writing it; re-read and retry."""


class PromotionError(MlseamError):
    """A requested promotion or rollback is not allowed; the message says why."""


class TrainingError(MlseamError):
    """A retrain could not produce a usable candidate."""


class QualityGateError(TrainingError):
    """A quality gate refused the data or the candidate (too few examples, one class, NaN)."""
