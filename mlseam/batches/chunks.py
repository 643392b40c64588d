"""Doing one chunk of a batch: read its inputs, predict them, write and count its results, finalise.

A chunk is predicted in one call with the batch's pinned model version (a few are kept loaded),
its result lines are written, and it is counted once (conditionally). A failed attempt is
recorded with its reason; on the last allowed receive the chunk's items fail with it. The chunk
that completes a batch finalises it: one result file in input order, then the status, set once
under a condition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from mlseam.artifacts import ArtifactStore
from mlseam.batchstore import Batch, BatchStatus, BatchStore, ChunkFailure, ChunkMessage, error_line, ms, output_line
from mlseam.manifest import Service
from mlseam.predictionlog import PredictionBatch
from mlseam.registry import Registry
from mlseam.runtime import (
    LoadedModel,
    PredictionRecorder,
    UnusableOutput,
    load_version,
    new_prediction_ids,
    predict_outputs,
)

log = logging.getLogger("mlseam.worker")

_MODELS_KEPT = 3
_BATCHES_KEPT = 16


@dataclass(frozen=True)
class ChunkResult:
    """A predicted chunk, not yet written: its result lines in input order, errors and stage timings."""

    lines: list[bytes]
    errors: int
    timings_ms: dict[str, int]


class ChunkProcessor:
    """Predicts, writes, counts and fails one service's chunks; finalises the batch a chunk completes."""

    def __init__(
        self,
        service: Service,
        *,
        store: BatchStore,
        registry: Registry,
        artifacts: ArtifactStore,
        max_receives: int,
        recorder: PredictionRecorder | None = None,
    ) -> None:
        self.service = service
        self.recorder = recorder
        """Where predicted items are logged (a sampled share of chunks); None: not logged."""
        self.store = store
        self.registry = registry
        self.artifacts = artifacts
        self.max_receives = max_receives
        """Attempts at a chunk before SQS dead-letters it (the worker reads it from the queue)."""
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._batches: OrderedDict[str, Batch] = OrderedDict()
        self._batches_lock = threading.Lock()

    # -- batches and models ----------------------------------------------------------------

    def batch_for(self, chunk: ChunkMessage) -> Batch | None:
        """The chunk's batch: remembered from its previous chunks, else read (None: unknown or expired).

        A remembered batch may lag behind other workers' progress; that costs at most a chunk
        predicted twice (counted once), never a wrong result.
        """
        with self._batches_lock:
            batch = self._batches.get(chunk.batch_id)
        if batch is None:
            batch = self.store.get(chunk.service, chunk.batch_id)
            if batch is not None:
                self._remember(batch)
        return batch

    def _remember(self, batch: Batch) -> None:
        with self._batches_lock:
            self._batches[batch.batch_id] = batch
            self._batches.move_to_end(batch.batch_id)
            while len(self._batches) > _BATCHES_KEPT:
                self._batches.popitem(last=False)

    def _forget(self, batch: Batch) -> None:
        with self._batches_lock:
            self._batches.pop(batch.batch_id, None)

    def model(self, version: str) -> LoadedModel:
        """The loaded model of ``version`` (a few versions stay loaded)."""
        if version in self._models:
            self._models.move_to_end(version)
            return self._models[version]
        loaded = load_version(self.service, version, registry=self.registry, artifacts=self.artifacts)
        self._models[version] = loaded
        while len(self._models) > _MODELS_KEPT:
            self._models.popitem(last=False)
        return loaded

    # -- one chunk -------------------------------------------------------------------------

    def predict(self, batch: Batch, chunk: int) -> ChunkResult:
        """The chunk's results in input order: its inputs read and predicted in one call."""
        started = time.perf_counter()
        inputs, invalid = self._read_inputs(batch, chunk)
        read = time.perf_counter()
        loaded = self.model(batch.model_version)
        ids = new_prediction_ids(len(inputs))
        outputs = predict_outputs(self.service, loaded.model, inputs, ids) if inputs else []
        predicted = time.perf_counter()
        self._record(batch, ids, inputs, outputs)
        lines, errors = self._result_lines(batch, chunk, outputs, invalid)
        return ChunkResult(lines, errors, {"read": ms(read - started), "predict": ms(predicted - read)})

    def _record(self, batch: Batch, ids: list[str], inputs: list[Any], outputs: list[Any]) -> None:
        """Log the chunk's predictions (an unusable one is logged as a null output); request id: the batch id."""
        if self.recorder is None or not inputs or not self.recorder.sampled():
            return
        to_json = self.service.kind.input_to_json
        answered = [None if isinstance(output, UnusableOutput) else output for output in outputs]
        self.recorder.record(
            PredictionBatch(
                service=self.service.name,
                version=batch.model_version,
                request_id=batch.batch_id,
                logged_at=datetime.now(UTC),
                first_id=ids[0],
                count=len(ids),
                request=orjson.dumps(
                    {"inputs": [to_json(value) for value in inputs]}, option=orjson.OPT_SERIALIZE_NUMPY
                ),
                answer=orjson.dumps({"outputs": answered, "model_version": batch.model_version}),
            )
        )

    def _read_inputs(self, batch: Batch, chunk: int) -> tuple[list[Any], dict[int, str]]:
        """The chunk's valid inputs, and the message of each invalid item by position in the chunk."""
        kind = self.service.kind
        start, end = batch.chunk_range(chunk)
        body = self.store.chunk_inputs(batch, chunk)
        inputs = kind.fast_body(body, end - start)  # the file is a predict body: the API's fast path reads it
        if inputs is None:
            values = orjson.loads(body)["inputs"]
            inputs = [kind.validate_input(value, index=start + i) for i, value in enumerate(values)]
        invalid = self.store.invalid_items(batch, chunk) if len(inputs) < end - start else {}
        return inputs, invalid

    @staticmethod
    def _result_lines(batch: Batch, chunk: int, outputs: list[Any], invalid: dict[int, str]) -> tuple[list[bytes], int]:
        """One result line per item of the chunk (the invalid ones in place), and how many are errors."""
        start, end = batch.chunk_range(chunk)
        lines: list[bytes] = []
        produced = iter(outputs)
        for position in range(end - start):
            index = start + position
            if position in invalid:
                lines.append(error_line(index, "invalid_input", invalid[position]))
                continue
            output = next(produced)
            if isinstance(output, UnusableOutput):
                message = f"inputs[{index}]: the model gave no finite prediction ({output.value}) for this input"
                lines.append(error_line(index, "unpredictable_input", message))
            else:
                lines.append(output_line(index, output))
        errors = len(invalid) + sum(isinstance(output, UnusableOutput) for output in outputs)
        return lines, errors

    def complete(self, batch: Batch, chunk: int, result: ChunkResult) -> None:
        """Write the chunk's results, count it once, and finalise its batch if it was the last."""
        started = time.perf_counter()
        self.store.put_chunk_outputs(batch, chunk, result.lines)
        timings = {**result.timings_ms, "write": ms(time.perf_counter() - started)}
        counted = self.store.count_chunk(batch, chunk, errors=result.errors, failed=False, timings_ms=timings)
        batch = counted or self.store.get(batch.service, batch.batch_id) or batch
        self._remember(batch)
        self.finish_if_complete(batch)

    def finish_if_complete(self, batch: Batch) -> None:
        """Finalise ``batch`` when every chunk is counted and no one has finalised it yet."""
        if batch.complete and not batch.finished:
            self.finalise(batch)
            self._forget(batch)

    # -- failures --------------------------------------------------------------------------

    def record_failure(self, batch: Batch, chunk: int, exc: Exception, receives: int) -> None:
        """Keep the reason of a failed attempt; on the last allowed one, fail the chunk's items with it."""
        failure = ChunkFailure(reason=f"{type(exc).__name__}: {exc}"[:500], receives=receives)
        self.store.put_failure(batch, chunk, failure)
        log.warning(
            "chunk failed",
            extra={
                "service": batch.service,
                "batch_id": batch.batch_id,
                "chunk": chunk,
                "receives": receives,
                "reason": failure.reason,
            },
        )
        if receives >= self.max_receives:
            # The last attempt: its items fail with the reason; SQS moves the message to the DLQ.
            self.fail_chunk(batch, chunk, f"failed {receives} times: {failure.reason}")

    def fail_dead_letter(self, chunk: ChunkMessage) -> None:
        """A chunk SQS dead-lettered: fail its items (unless counted already) so its batch still ends."""
        batch = self.store.get(chunk.service, chunk.batch_id)
        if batch is None or chunk.chunk in batch.done_chunks:
            return
        failure = self.store.last_failure(batch, chunk.chunk)
        if failure is None:
            reason = f"the worker stopped while processing it, {self.max_receives} times"
        else:
            reason = f"failed {failure.receives} times: {failure.reason}"
        self.fail_chunk(batch, chunk.chunk, reason)

    def fail_chunk(self, batch: Batch, chunk: int, reason: str) -> None:
        """Record every item of ``chunk`` as failed with ``reason`` and count it; finalise if it was last."""
        start, end = batch.chunk_range(chunk)
        self.store.put_chunk_outputs(
            batch, chunk, [error_line(index, "chunk_failed", reason) for index in range(start, end)]
        )
        counted = self.store.count_chunk(batch, chunk, errors=end - start, failed=True)
        if counted is not None and counted.complete and not counted.finished:
            self.finalise(counted)

    # -- the end ---------------------------------------------------------------------------

    def finalise(self, batch: Batch) -> None:
        """Write the one result file (chunk results in order) and mark the batch finished, once."""
        started = time.perf_counter()
        result_key = self.store.put_results(batch)
        status = BatchStatus.FAILED if batch.errors >= batch.total else BatchStatus.SUCCEEDED
        reason = None
        if batch.failed_chunks:
            reason = f"{batch.failed_chunks} of {batch.chunks} chunks failed after {self.max_receives} attempts"
        elif status is BatchStatus.FAILED:
            reason = "no item could be predicted"
        if self.store.finalise(batch, status, result_key, reason, ms(time.perf_counter() - started)):
            log.info(
                "batch finished",
                extra={
                    "service": batch.service,
                    "batch_id": batch.batch_id,
                    "status": status.value,
                    "items": batch.total,
                    "errors": batch.errors,
                },
            )
