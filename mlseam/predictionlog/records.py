"""What the prediction log holds: prediction ids, the batches written, and the predictions read back.

The log keeps one row per request (or batch-job chunk): the request body as it came and the
answer as it went, byte for byte, with the id of its first prediction. Predictions answered
together take consecutive ids (a random 24-hex key, then an 8-hex index), so an id names its row
and its place in it. Writing a row needs no JSON rendered on the request path and one insert
per request however many items it holds; reading one prediction parses its row, off the path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

KEY_HEX = 24
"""Hex characters of the key a batch of predictions shares (96 random bits)."""
INDEX_HEX = 8
"""Hex characters of a prediction's index in its batch."""
_HEX_DIGITS = "0123456789abcdef"


def new_prediction_ids(count: int) -> list[str]:
    """``count`` consecutive prediction ids: one random key, then each one's index, 32 hex characters."""
    key = os.urandom(KEY_HEX // 2).hex()
    return [f"{key}{index:08x}" for index in range(count)]


def split_prediction_id(prediction_id: str) -> tuple[str, int] | None:
    """``(key, index)`` of an id ``new_prediction_ids`` made; None for any other text."""
    if len(prediction_id) != KEY_HEX + INDEX_HEX or prediction_id.strip(_HEX_DIGITS):
        return None
    return prediction_id[:KEY_HEX], int(prediction_id[KEY_HEX:], 16)


@dataclass(frozen=True)
class LoggedPrediction:
    """One prediction as logged: its id, who answered it with which version, when, what in and out."""

    prediction_id: str
    service: str
    version: str
    request_id: str | None
    logged_at: datetime
    input: Any
    """The input as the request gave it (the API's JSON for it)."""
    output: Any
    """The output JSON object as answered, without its ``prediction_id``."""
    shadow_of: str | None = None
    """For a challenger's prediction in shadow: the id of the champion's prediction of the same input."""
    latency_ms: float | None = None
    """How long its request took to answer, when measured."""


@dataclass(slots=True)
class PredictionBatch:
    """Predictions answered together (one request, or one chunk of a batch job), as the log takes them.

    ``request`` is a JSON object whose ``inputs`` holds the inputs and ``answer`` one whose
    ``outputs`` holds the outputs, in the same order; an output may keep its ``prediction_id``.
    The API hands its request body and its answer as they are: nothing is rendered to log them.
    """

    service: str
    version: str
    request_id: str | None
    logged_at: datetime
    first_id: str
    """The id of the first prediction; the others follow it (``new_prediction_ids``)."""
    count: int
    request: bytes
    answer: bytes
    latency_ms: float | None = None
    """How long the model took to answer (the champion's wait included), when measured."""
    shadow_of: str | None = None
    """A challenger's answer in shadow: the champion's first prediction id of the same request."""
    outcome: str | None = None
    """A challenger's answer that failed: ``error``, ``timeout`` or ``dropped`` (its ``outputs`` are empty)."""

    def __len__(self) -> int:
        return self.count

    @property
    def first(self) -> tuple[str, int]:
        """The row key and index of the first prediction (ValueError for an id the log does not make)."""
        split = split_prediction_id(self.first_id)
        if split is None:
            raise ValueError(f"{self.first_id!r} is not a prediction id made by new_prediction_ids")
        return split


@dataclass(frozen=True)
class LoggedRequest:
    """One row of the log, as stored."""

    key: str
    first_index: int
    count: int
    service: str
    version: str
    request_id: str | None
    logged_at: datetime
    request: str | bytes
    answer: str | bytes
    latency_ms: float | None = None
    shadow_of: str | None = None
    outcome: str | None = None

    @classmethod
    def of(cls, batch: PredictionBatch) -> LoggedRequest:
        """The row ``batch`` is written as (ValueError when its first id is not one the log makes)."""
        key, first = batch.first
        return cls(key, first, batch.count, batch.service, batch.version, batch.request_id, batch.logged_at,
                   batch.request, batch.answer, batch.latency_ms, batch.shadow_of, batch.outcome)  # fmt: skip

    def covers(self, index: int) -> bool:
        return self.first_index <= index < self.first_index + self.count

    def predictions(self, indexes: Sequence[int] | None = None) -> Iterator[LoggedPrediction]:
        """The row's predictions (only those at ``indexes`` when given), in order."""
        inputs = orjson.loads(self.request)["inputs"]
        outputs = orjson.loads(self.answer)["outputs"]
        wanted = range(self.first_index, self.first_index + self.count) if indexes is None else indexes
        for index in wanted:
            at = index - self.first_index
            if not 0 <= at < min(len(inputs), len(outputs)):
                continue
            output = outputs[at]
            if output is None:
                continue  # a batch item the model gave no usable prediction for
            if isinstance(output, dict):
                output.pop("prediction_id", None)
            yield LoggedPrediction(
                f"{self.key}{index:08x}",
                self.service,
                self.version,
                self.request_id,
                self.logged_at,
                inputs[at],
                output,
                self.shadowed_id(at),
                self.latency_ms,
            )

    def shadowed_id(self, at: int) -> str | None:
        """For a shadow row: the champion's prediction id of its ``at``-th input; None for a champion's row."""
        split = split_prediction_id(self.shadow_of) if self.shadow_of else None
        return None if split is None else f"{split[0]}{split[1] + at:08x}"


def found_in(rows: Sequence[LoggedRequest], prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
    """The predictions among ``prediction_ids`` that ``rows`` hold, by id."""
    wanted: dict[str, set[int]] = {}
    for pid in prediction_ids:
        split = split_prediction_id(pid)
        if split is not None:
            wanted.setdefault(split[0], set()).add(split[1])
    found: dict[str, LoggedPrediction] = {}
    for row in rows:
        indexes = sorted(i for i in wanted.get(row.key, ()) if row.covers(i))
        if indexes:
            found.update((p.prediction_id, p) for p in row.predictions(indexes))
    return found


def shadow_answers(rows: Sequence[LoggedRequest], prediction_ids: Sequence[str]) -> dict[str, list[LoggedPrediction]]:
    """The shadow predictions in ``rows`` of the inputs the champion answered as ``prediction_ids``, by that id."""
    wanted = set(prediction_ids)
    found: dict[str, list[LoggedPrediction]] = {}
    for row in rows:
        for prediction in row.predictions():
            if prediction.shadow_of in wanted:
                found.setdefault(prediction.shadow_of, []).append(prediction)
    return found


def wanted_keys(prediction_ids: Sequence[str]) -> list[str]:
    """The distinct row keys of ``prediction_ids`` (ids the log cannot hold are left out)."""
    return sorted({split[0] for pid in prediction_ids if (split := split_prediction_id(pid)) is not None})
