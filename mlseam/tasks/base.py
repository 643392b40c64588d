"""What every task kind owns: input and label types, their validation, table and row conversion."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pydantic

from mlseam.errors import InvalidInputError

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


def require_finite(value: object, *, index: int | None, field: str) -> float:
    """``value`` as a float, or InvalidInputError naming where it was found."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{field}: expected a number, got {type(value).__name__}", index=index, field=field)
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{field}: must be finite, got {value}", index=index, field=field)
    return number


class TaskKind(ABC, Generic[InputT, BatchT]):
    """A kind of prediction task, configured for one service by its manifest's ``inputs``.

    Subclasses declare ``name`` (used in service.yaml), ``table`` (their PostgreSQL table),
    ``label_column`` and its SQL type, and the pydantic options their ``inputs`` section takes.
    """

    name: ClassVar[str]
    table: ClassVar[str]
    label_column: ClassVar[str]
    label_sql_type: ClassVar[str]
    options_model: ClassVar[type[pydantic.BaseModel]]
    needs_label_variety: ClassVar[bool] = False

    def __init__(self, options: pydantic.BaseModel) -> None:
        self.options = options

    @classmethod
    def from_manifest(cls, raw: dict[str, Any] | None) -> TaskKind[Any, Any]:
        """Build the task kind from a manifest's ``inputs`` mapping (pydantic validates it)."""
        return cls(cls.options_model.model_validate(raw or {}))

    @abstractmethod
    def validate_input(self, value: object, *, index: int | None = None) -> InputT:
        """One input as the model sees it, or InvalidInputError naming index and field."""

    @abstractmethod
    def validate_label(self, value: object, *, index: int | None = None) -> Any:
        """One label as stored and scored, or InvalidInputError."""

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

    def validate_outputs(self, outputs: object, expected: int) -> list[Any]:
        """A model's ``predict`` result checked for length and element type."""
        try:
            items = list(outputs)  # type: ignore[call-overload]
        except TypeError as exc:
            raise InvalidInputError(f"predict returned {type(outputs).__name__}; return one output per input") from exc
        if len(items) != expected:
            raise InvalidInputError(
                f"predict returned {len(items)} outputs for {expected} inputs; "
                "return exactly one output per input, in input order"
            )
        return [self.validate_output(item, index=i) for i, item in enumerate(items)]

    @abstractmethod
    def validate_output(self, value: object, *, index: int) -> Any:
        """One prediction converted to its JSON-friendly type."""
