"""What every task kind owns: input and label types, their validation, table and row conversion."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import numpy as np
import orjson
import pydantic
from pydantic import AfterValidator, AllowInfNan, Strict, StringConstraints, TypeAdapter

from mlseam.errors import InvalidInputError, ModelOutputError
from mlseam.tasks.scores import SCORERS, RowScores

InputT = TypeVar("InputT")
BatchT = TypeVar("BatchT")


@dataclass(frozen=True)
class Examples(Generic[BatchT]):
    """Labelled examples as a model sees them: ``inputs[i]`` is labelled ``labels[i]``.

    ``ids`` are the stable example ids the platform uses for the holdout split; models
    may ignore them. ``inputs`` is the task kind's batch type (see its docstring).
    """

    ids: np.ndarray
    inputs: BatchT
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def subset(self, mask: np.ndarray) -> Examples[BatchT]:
        """The examples where the boolean ``mask`` is true, in the same order."""
        if isinstance(self.inputs, np.ndarray):
            inputs: Any = self.inputs[mask]
        else:
            inputs = [item for item, keep in zip(self.inputs, mask, strict=True) if keep]  # type: ignore[call-overload]
        return Examples(ids=self.ids[mask], inputs=inputs, labels=self.labels[mask])


FiniteNumber = Annotated[float, Strict(), AllowInfNan(False)]
"""A JSON number that is finite: no NaN, no infinity, no string or boolean standing in for it."""


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return text


def plain_text(max_length: int = 200) -> Any:
    """A non-blank string without NUL characters (PostgreSQL text cannot hold them)."""
    return Annotated[
        str,
        Strict(),
        StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
        AfterValidator(_no_nul),
    ]


@dataclass(frozen=True)
class MatrixBounds:
    """The declared range of each matrix column (``low[j]``..``high[j]``) and of the label."""

    low: np.ndarray
    high: np.ndarray
    label: tuple[float, float]

    def rows_within(self, matrix: np.ndarray, labels: np.ndarray, *, chunk_rows: int = 65_536) -> np.ndarray:
        """A boolean mask of the rows whose every value and label lie in range (NaN never does)."""
        low, high = self.label
        within = (labels >= low) & (labels <= high)
        # Chunked: the comparison matrices then cost one chunk of memory, not a copy of the matrix.
        for start in range(0, matrix.shape[0], chunk_rows):
            block = matrix[start : start + chunk_rows]
            within[start : start + chunk_rows] &= ((block >= self.low) & (block <= self.high)).all(axis=1)
        return within


DEFAULT_BOUND = 1e9
"""Inputs beyond this magnitude make floating-point models overflow; services may narrow it."""


def bounded_number(low: float, high: float) -> Any:
    """A finite JSON number within [low, high] (the bounds show in the OpenAPI schema)."""
    return Annotated[float, Strict(), AllowInfNan(False), pydantic.Field(ge=low, le=high)]


def field_path(prefix: str, loc: Sequence[int | str]) -> str:
    """``input[3][2]`` or ``input.bmi`` from a pydantic error location."""
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def invalid_from(exc: pydantic.ValidationError, prefix: str, index: int | None) -> InvalidInputError:
    """The first pydantic error as an InvalidInputError naming the field."""
    error = exc.errors(include_url=False)[0]
    field = field_path(prefix, error["loc"])
    return InvalidInputError(f"{field}: {error['msg'].removeprefix('Value error, ')}", index=index, field=field)


class TaskKind(ABC, Generic[InputT, BatchT]):
    """A kind of prediction task, configured for one service by its manifest's ``inputs``.

    Subclasses declare ``name`` (used in service.yaml), ``table`` (their PostgreSQL table, whose
    schema the migrations own) and the pydantic options their ``inputs`` section takes.
    """

    name: ClassVar[str]
    table: ClassVar[str]
    options_model: ClassVar[type[pydantic.BaseModel]]
    needs_label_variety: ClassVar[bool] = False

    output_field: ClassVar[str]
    output_type: ClassVar[Any] = float
    """The JSON type of ``output_field`` in the API's answer (its OpenAPI schema); a ``label``
    output is always a string, with optional ``probabilities``."""
    has_probabilities: ClassVar[bool] = False
    """Whether outputs may carry the model's ``predict_proba`` (classification kinds)."""
    label_is_json: ClassVar[bool] = False
    """Whether the table's label column is jsonb (a structured label): the store writes it as JSON."""

    def __init__(self, options: pydantic.BaseModel) -> None:
        self.options = options
        self.input_adapter: TypeAdapter[Any] = TypeAdapter(self.input_type())
        self.label_adapter: TypeAdapter[Any] = TypeAdapter(self.label_type())

    @classmethod
    def from_manifest(cls, raw: dict[str, Any] | None) -> TaskKind[Any, Any]:
        """Build the task kind from a manifest's ``inputs`` mapping (pydantic validates it)."""
        return cls(cls.options_model.model_validate(raw or {}))

    @abstractmethod
    def input_type(self) -> Any:
        """The type of one input as JSON (pydantic); it is also the OpenAPI schema."""

    @abstractmethod
    def label_type(self) -> Any:
        """The type of one label as JSON (pydantic)."""

    @abstractmethod
    def coerce_input(self, value: Any, *, index: int | None = None) -> InputT:
        """A value that passed ``input_type`` as the model sees it; checks what types cannot."""

    def fast_body(self, body: bytes, max_items: int) -> list[InputT] | None:
        """The inputs of a whole predict body ``{"inputs": [...]}`` (1 to ``max_items`` of them),
        when proven valid without item-by-item validation; None otherwise (see ``fast_inputs``)."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(parsed) is not dict or len(parsed) != 1:
            return None
        values = parsed.get("inputs")
        if type(values) is not list or not 1 <= len(values) <= max_items:
            return None
        return self.fast_inputs(values, body)

    def fast_inputs(self, values: list[Any], body: bytes) -> list[InputT] | None:
        """``values`` (the ``inputs`` decoded from JSON ``body``) as the model sees them, when a
        vectorised check proves them valid.

        ``None`` means "not proven": the caller then validates item by item, which also names
        what is wrong. Must never accept what ``validate_input`` refuses. The default proves nothing.
        """
        return None

    @abstractmethod
    def sample_input(self) -> InputT:
        """A neutral valid input, used to warm a freshly loaded model up."""

    def validate_input(self, value: object, *, index: int | None = None) -> InputT:
        """One input as the model sees it, or InvalidInputError naming index and field."""
        try:
            parsed = self.input_adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise invalid_from(exc, "input", index) from None
        return self.coerce_input(parsed, index=index)

    def read_stored_input(self, text: str) -> InputT:
        """An input read back from its table's ``input`` column as JSON text, checked as ``validate_input``
        checks it (InvalidInputError when it no longer passes); kinds with bulky inputs parse it faster."""
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = json.loads(text)  # integers beyond 64 bits, which orjson does not read
        return self.validate_input(value)

    def validate_label(self, value: object, *, index: int | None = None) -> Any:
        """One label as stored and scored, or InvalidInputError."""
        try:
            return self.label_adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            raise invalid_from(exc, "label", index) from None

    def check_label_fits(self, value: InputT, label: Any, *, index: int | None = None) -> None:
        """Refuse a valid label that its valid input rules out (a box outside its image) with
        InvalidInputError naming the label's field; kinds whose labels stand alone accept all."""

    @abstractmethod
    def to_batch(self, inputs: Sequence[InputT]) -> BatchT:
        """Validated inputs in the batch type ``Model.predict`` and ``Examples.inputs`` use."""

    @abstractmethod
    def label_array(self, labels: Sequence[Any]) -> np.ndarray:
        """Validated labels as the numpy array ``Examples.labels`` holds."""

    @abstractmethod
    def input_to_json(self, value: InputT) -> Any:
        """A validated input as the JSON stored in the table's ``input`` column."""

    def stored_columns(self, value: InputT) -> dict[str, Any]:
        """Extra table columns written with a validated input (none unless a kind needs them)."""
        return {}

    def matrix_sql(self) -> str | None:
        """A float8[] SQL expression of one row's input, NaN where malformed; None if the kind has none.

        A kind whose inputs are fixed-length number vectors (and labels numbers) returns one; the store then
        reads its rows with binary COPY straight into a matrix of ``matrix_width`` columns.
        """
        return None

    @property
    def matrix_width(self) -> int:
        """How many numbers ``matrix_sql`` yields per row (only read when it is not None)."""
        raise NotImplementedError(f"{self.name} has no matrix form")

    def matrix_bounds(self) -> MatrixBounds:
        """The ranges ``validate_input`` and ``validate_label`` hold a matrix row to (read with ``matrix_sql``)."""
        raise NotImplementedError(f"{self.name} has no matrix form")

    def matrix_classes(self) -> list[str] | None:
        """The declared labels when labels are text: a matrix read yields each label as its index in
        this list (-1 for any other text, outside ``MatrixBounds.label``); None: labels are numbers."""
        return None

    def validate_outputs(self, outputs: object, expected: int) -> list[Any]:
        """A model's ``predict`` result checked for length and element type."""
        items = self.output_items(outputs, expected)
        return [self.validate_output(item, index=i) for i, item in enumerate(items)]

    def output_items(self, outputs: object, expected: int) -> list[Any]:
        """A model's ``predict`` result as a list, checked to hold one output per input."""
        try:
            items: list[Any] = list(outputs)  # type: ignore[call-overload]
        except TypeError as exc:
            raise ModelOutputError(f"predict returned {type(outputs).__name__}; return one output per input") from exc
        if len(items) != expected:
            raise ModelOutputError(
                f"predict returned {len(items)} outputs for {expected} inputs; "
                "return exactly one output per input, in input order"
            )
        return items

    @abstractmethod
    def validate_output(self, value: object, *, index: int) -> Any:
        """One prediction converted to its JSON-friendly type."""

    @classmethod
    def row_scores(cls, metric: str, labels: np.ndarray, predictions: Sequence[Any]) -> RowScores | None:
        """Per-row counts of ``metric`` (a metric this kind knows by name) for ``predictions``; None otherwise."""
        scorer = SCORERS.get(cls.name)
        return None if scorer is None else scorer(metric, labels, predictions)
