"""Request and response types of one service's API, built from its task kind (real OpenAPI types)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic
from annotated_types import Len
from pydantic import ConfigDict, Discriminator, Tag, TypeAdapter, create_model

from mlseam.manifest import Service
from mlseam.registry import ModelVersion
from mlseam.runtime import LoadedModel
from mlseam.tasks import TaskKind
from mlseam.tasks.base import plain_text


class ErrorDetail(pydantic.BaseModel):
    """What went wrong and where."""

    code: str
    message: str
    index: int | None = None
    field: str | None = None


class ErrorResponse(pydantic.BaseModel):
    """Every error the API answers with."""

    error: ErrorDetail
    request_id: str


class ExampleError(pydantic.BaseModel):
    """One item of ``POST /v1/examples`` that was not stored (the others were)."""

    index: int
    field: str
    message: str


class ExamplesStored(pydantic.BaseModel):
    """Answer to ``POST /v1/examples``."""

    received: int
    stored: int  # new examples
    corrected: int  # known external_ids sent with another label: the new label supersedes the old
    errors: list[ExampleError] = []  # items not stored: a prediction_id the log does not hold


PredictionId = Annotated[str, pydantic.StringConstraints(pattern=r"^[0-9a-f]{32}$")]
"""A ``prediction_id`` as the API answers it: 32 lower-case hex characters."""


BY_INPUT, BY_PREDICTION = "by input", "by prediction_id"
"""The two forms of an example; never a field name (those are identifiers), so errors can drop them."""


def _example_form(value: Any) -> str:
    return BY_PREDICTION if isinstance(value, dict) and "prediction_id" in value and "input" not in value else BY_INPUT


class ModelInfo(pydantic.BaseModel):
    """Answer to ``GET /v1/model``."""

    version: str
    primary_metric: str
    metrics: dict[str, float]
    champion_metrics_at_promotion: dict[str, float] | None
    trained_at: str | None
    data_watermark: int
    train_count: int
    holdout_count: int
    code_version: str | None
    library_versions: dict[str, str]
    artifact_sha256: str | None
    live: dict[str, Any] | None = pydantic.Field(
        default=None,
        description="from the last `mlseam monitor`: labelled live predictions, metrics on them, label lag",
    )
    drift: dict[str, Any] | None = pydantic.Field(
        default=None, description="from the last `mlseam monitor`: verdict, summary and PSI scores of live inputs"
    )
    pending: PendingInfo | None = pydantic.Field(
        default=None, description="the latest version pending approval, if any; read-only, it is not served"
    )
    challenger: ChallengerInfo | None = pydantic.Field(
        default=None,
        description="the version this API runs in shadow, if any: it answers a share of the predict requests after "
        "the champion's answer went, and its answers are logged, never sent",
    )


class PendingInfo(pydantic.BaseModel):
    """A version that won its retrain but waits for ``mlseam approve`` (the ``approve`` promotion policy)."""

    version: str
    metrics: dict[str, float]
    compared_with: str | None = pydantic.Field(description="the champion it was compared with (None: the first)")
    champion_metrics: dict[str, float] | None
    finished_at: str | None
    reason: str


class ChallengerInfo(pydantic.BaseModel):
    """The version in shadow beside the champion in this API (``shadow`` in ``service.yaml``)."""

    version: str
    share: float = pydantic.Field(description="the share of predict requests it also answers (shadow.share)")


class Readiness(pydantic.BaseModel):
    """Answer to ``GET /readyz`` and ``/livez``."""

    status: str
    model_version: str | None = None
    reason: str | None = None


class BatchProgress(pydantic.BaseModel):
    """How many of a batch's items are done."""

    done: int
    total: int


class BatchSummary(pydantic.BaseModel):
    """Answer to ``POST /v1/batches`` (202): the batch, and where to poll it."""

    batch_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    status_url: str
    model_version: str
    progress: BatchProgress
    errors: int
    failed_chunks: int
    reason: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    expires_at: str
    timings_ms: dict[str, int]


class BatchReport(BatchSummary):
    """Answer to ``GET /v1/batches/{batch_id}``; once finished, a page of results in input order."""

    offset: int | None = None
    limit: int | None = None
    next_offset: int | None = None
    result_url: str | None = None
    outputs: list[dict[str, Any]] | None = None


def _title(service: Service) -> str:
    return "".join(part.capitalize() for part in service.name.split("-"))


_PREDICTION_ID = (
    str,
    pydantic.Field(
        description="this prediction's id (32 hex characters), the key of its entry in the prediction log",
        pattern="^[0-9a-f]{32}$",
    ),
)


def _output_model(service: Service) -> type[pydantic.BaseModel]:
    title = _title(service)
    if service.kind.output_field == "label":
        return create_model(
            f"{title}Output",
            label=(str, ...),
            probabilities=(dict[str, float] | None, None),
            prediction_id=_PREDICTION_ID,
        )
    fields: dict[str, Any] = {
        service.kind.output_field: (service.kind.output_type, ...),
        "prediction_id": _PREDICTION_ID,
    }
    return create_model(f"{title}Output", **fields)


@dataclass(frozen=True)
class ServiceSchemas:
    """The adapters that validate raw request bodies and the models that document them."""

    predict_request: TypeAdapter[Any]
    examples_request: TypeAdapter[Any]
    predict_request_model: type[pydantic.BaseModel]
    examples_request_model: type[pydantic.BaseModel]
    predict_response_model: type[pydantic.BaseModel]


def build_schemas(service: Service, max_items: int) -> ServiceSchemas:
    """Types for ``service``: inputs and labels exactly as its task kind declares them."""
    kind: TaskKind[Any, Any] = service.kind
    title = _title(service)
    strict = ConfigDict(extra="forbid")
    input_type = kind.input_type()
    items = Len(1, max_items)
    example = create_model(
        f"{title}Example",
        __config__=strict,
        input=(input_type, ...),
        label=(kind.label_type(), ...),
        external_id=(plain_text() | None, None),
    )
    labelled_prediction = create_model(
        f"{title}LabelledPrediction",
        __config__=strict,
        prediction_id=(
            PredictionId,
            pydantic.Field(description="an answered prediction: its input comes from the log"),
        ),
        label=(kind.label_type(), ...),
    )
    item: Any = Annotated[
        Annotated[example, Tag(BY_INPUT)] | Annotated[labelled_prediction, Tag(BY_PREDICTION)],
        Discriminator(_example_form),
    ]
    # Types built at run time from the manifest: pydantic checks them, mypy cannot.
    list_of: Any = list
    predict = create_model(
        f"{title}PredictRequest", __config__=strict, inputs=(Annotated[list_of[input_type], items], ...)
    )
    examples = create_model(
        f"{title}ExamplesRequest", __config__=strict, examples=(Annotated[list_of[item], items], ...)
    )
    response = create_model(
        f"{title}PredictResponse", outputs=(list_of[_output_model(service)], ...), model_version=(str, ...)
    )
    return ServiceSchemas(
        predict_request=TypeAdapter(predict),
        examples_request=TypeAdapter(examples),
        predict_request_model=predict,
        examples_request_model=examples,
        predict_response_model=response,
    )


def model_summary(loaded: LoadedModel) -> dict[str, Any]:
    """What ``GET /v1/model`` says about the model being served (the fields of ``ModelInfo``)."""
    record = loaded.record
    return {
        "version": record.version,
        "primary_metric": record.primary_metric,
        "metrics": record.metrics,
        "champion_metrics_at_promotion": record.champion_metrics,
        "trained_at": record.finished_at,
        "data_watermark": record.watermark,
        "train_count": record.train_count,
        "holdout_count": record.holdout_count,
        "code_version": record.code_version,
        "library_versions": record.library_versions,
        "artifact_sha256": record.artifact_sha256,
        "live": record.live,
        "drift": record.drift,
    }


def pending_summary(record: ModelVersion) -> dict[str, Any]:
    """The fields of ``PendingInfo`` for a pending version."""
    return {
        "version": record.version,
        "metrics": record.metrics,
        "compared_with": record.champion_version,
        "champion_metrics": record.champion_metrics,
        "finished_at": record.finished_at,
        "reason": record.reason,
    }


def body_of(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """An OpenAPI ``content`` entry referring to ``model`` (a raw body the route validates itself)."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
