"""The one exception tree of mlseam; catch the narrowest class that you can act on.

```
MlseamError                      anything mlseam raises on purpose; its message says what to do
├── ConfigError                  a setting, a service.yaml or a model class is wrong: fix it, re-run
│   ├── ManifestError            service.yaml is missing, unreadable or has a bad field
│   ├── ContractError            a model class breaks the mlseam.Model contract
│   │   ├── RuleFailure          a conformance rule (`mlseam check`) the model breaks (mlseam.conformance)
│   │   └── RuleWarning          a rule the model passes with a caveat: a WARN line of `mlseam check`
│   └── UnknownServiceError      no services/<name>/service.yaml for that name
├── InvalidInputError            a client's input or label fails validation (index, field)
│   └── TooManyItemsError        more items than one request or batch may hold
├── NotFoundError                what a client asked for does not exist (or has expired)
│   └── BatchNotFoundError       no such batch for that service
├── ConflictError                the request clashes with what is stored; the message says how
│   └── IdempotencyKeyReusedError   an Idempotency-Key already names another request's batch
├── NoModelError                 the service has no model to predict with yet
├── ModelOutputError             a model's predict / predict_proba gave a wrong shape, type or range
├── StoreError                   an external store (PostgreSQL, DynamoDB, S3, SQS) failed or is unreachable
│   ├── ArtifactIntegrityError   an artifact's sha256 differs from the registry: never loaded
│   │   └── UntrustedArtifactError   unsigned, a signature the trusted key did not make, or a refused global
│   ├── VersionNotFoundError     no such model version in the registry
│   └── PromotionConflictError   the champion moved under a conditional write: re-read and retry
├── PromotionError               a requested champion move is not allowed (no artifact, nothing to undo)
└── TrainingError                a retrain could not produce a usable candidate
    └── QualityGateError         too few examples, one label class, missing or NaN metrics

HTTP only (mlseam.serving.problems), never raised below the API:
HttpError                        an answer the HTTP layer gives by itself
├── UnauthorizedError            missing or wrong bearer token (401)
└── BodyTooLargeError            a request body past the limit (413)

Control flow inside one module, never raised past it:
RetrainStopped                   a retrain ends early with its verdict, e.g. kept (mlseam.training.retrain)
```

In the API each class maps to one status and error code, in one table (``mlseam.serving.problems``).
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
    """A client's input or label fails its task kind's validation.

    ``index`` is the position of the offending item in its list (when known) and ``field``
    the path to it (``inputs[3].bmi``, or relative to the item: ``input.bmi``), so an API
    can answer 422 naming both.
    """

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        super().__init__(message)
        self.index = index
        self.field = field


class TooManyItemsError(InvalidInputError):
    """A request or a batch holds more items than allowed; split it."""


class NotFoundError(MlseamError):
    """What a client asked for does not exist, or its retention is over."""


class BatchNotFoundError(NotFoundError):
    """No batch with that id for that service (never created, or expired)."""


class ConflictError(MlseamError):
    """The request clashes with what is stored; the message says how to resolve it."""


class IdempotencyKeyReusedError(ConflictError):
    """An ``Idempotency-Key`` already names a batch submitted with a different body."""


class NoModelError(MlseamError):
    """The service has no model to predict with yet (no champion, or it failed to load)."""


class ModelOutputError(MlseamError):
    """A model's ``predict`` or ``predict_proba`` returned a wrong shape, type or range: a bug in the model.

    Not the client's fault (that is InvalidInputError); the API answers 500 naming the model.
    """


class StoreError(MlseamError):
    """An external store (PostgreSQL, DynamoDB, S3, SQS) failed or could not be reached."""


class ArtifactIntegrityError(StoreError):
    """An artifact's bytes do not match the sha256 the registry recorded; it is never loaded."""


class UntrustedArtifactError(ArtifactIntegrityError):
    """An artifact is unsigned, its signature fails under the trusted key, or its pickle names a refused global.

    An unsigned or forged artifact is never unpickled; a refused global stops unpickling before it runs.
    """


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
