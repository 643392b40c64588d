"""``mlseam worker <service>``: predicts batch chunks from SQS and writes their results to S3.

For each message: load the batch's pinned model version (a few are kept loaded), read the
chunk's inputs, predict them in one call, write the chunk's results, count the chunk (once,
conditionally) and only then delete the message. While a chunk takes longer than half the
visibility timeout, its visibility is extended. A chunk that fails is retried by SQS; on its
last allowed receive its items are recorded as failed with the reason, and SQS moves the
message to the dead-letter queue. The chunk that completes a batch finalises it: one result
file in input order, then the status, set once under a condition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
from botocore.exceptions import ClientError

from mlseam.artifacts import ArtifactStore
from mlseam.batches.store import Batch, BatchStatus, BatchStore, ChunkMessage, ms
from mlseam.errors import ConfigError
from mlseam.manifest import Service
from mlseam.registry import Registry
from mlseam.runtime import LoadedModel, UnusableOutput, load_version, predict_outputs
from mlseam.settings import Settings
from mlseam.stores import Stores

log = logging.getLogger("mlseam.worker")

_MODELS_KEPT = 3
_BATCHES_KEPT = 16
_PREFETCH = 10
"""Chunk messages taken per receive (each is extended if it waits long behind the others)."""
_DLQ_SWEEP_S = 30.0
_DLQ_KEEP_S = 43200  # a dead letter handled here stays for operators, out of sight for 12 h


def error_line(index: int, code: str, message: str) -> bytes:
    return orjson.dumps({"index": index, "error": {"code": code, "message": message}})


class _Heartbeat:
    """Extends a message's visibility every half timeout until stopped."""

    def __init__(self, sqs: Any, queue_url: str, receipt: str, timeout_s: int) -> None:
        self.sqs, self.queue_url, self.receipt, self.timeout_s = sqs, queue_url, receipt, timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.timeout_s / 2):
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=self.receipt, VisibilityTimeout=self.timeout_s
                )
                log.info("extended a chunk's visibility", extra={"seconds": self.timeout_s})
            except ClientError as exc:  # the next receive will simply see it again
                log.warning("could not extend visibility: %s", exc)


class Worker:
    """One service's batch worker; ``run`` until ``stop`` is set (SIGTERM does it)."""

    def __init__(
        self,
        service: Service,
        *,
        store: BatchStore,
        registry: Registry,
        artifacts: ArtifactStore,
        settings: Settings,
    ) -> None:
        self.service = service
        self.store = store
        self.registry = registry
        self.artifacts = artifacts
        self.settings = settings
        self.stop = threading.Event()
        self.max_receives = settings.batch_max_receives
        self.visibility_s = settings.batch_visibility_timeout_s
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._batches: OrderedDict[str, Batch] = OrderedDict()
        self._batches_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-writer")
        self._pending: Future[None] | None = None
        self._last_sweep = 0.0

    @classmethod
    def for_stores(cls, service: Service, stores: Stores, settings: Settings) -> Worker:
        """A worker on the process's stores (``build_stores``), which include the batch store."""
        if stores.batches is None:
            raise ConfigError("a batch worker needs the batch store; build the stores with build_stores")
        return cls(
            service, store=stores.batches, registry=stores.registry, artifacts=stores.artifacts, settings=settings
        )

    # -- loop ------------------------------------------------------------------------------

    def run(self) -> None:
        name = self.service.name
        queue = self.store.queue_url(name)
        self._read_queue_policy(queue)
        log.info("worker started", extra={"service": name, "queue": queue, "max_receives": self.max_receives})
        try:
            while not self.stop.is_set():
                try:
                    self._poll_once(queue)
                except Exception:  # SQS, S3 or DynamoDB unreachable: retry, never die
                    if self.stop.is_set():
                        break
                    log.exception("worker loop failed; retrying in 1 s", extra={"service": name})
                    self.stop.wait(1.0)
        finally:
            self._wait_for_writes()
            self._writer.shutdown(wait=True)
        log.info("worker stopped", extra={"service": name})

    def _wait_for_writes(self) -> None:
        """Let the chunk being written finish (its message is deleted only then)."""
        if self._pending is not None:
            try:
                self._pending.result()
            except Exception:  # its message stays in the queue and comes back
                log.exception("writing a chunk's results failed", extra={"service": self.service.name})
            self._pending = None

    def _poll_once(self, queue: str) -> None:
        if time.monotonic() - self._last_sweep > _DLQ_SWEEP_S:
            self.sweep_dead_letters()
        response = self.store.sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=_PREFETCH,
            WaitTimeSeconds=self.settings.worker_wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        received = time.monotonic()
        for message in response.get("Messages", []):
            receipt = message["ReceiptHandle"]
            if self.stop.is_set():  # received while stopping: hand it straight back
                self.store.sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=0)
                continue
            if time.monotonic() - received > self.visibility_s / 3:  # waited behind slow chunks: keep it ours
                self.store.sqs.change_message_visibility(
                    QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=self.visibility_s
                )
            self.handle(queue, message)

    def _read_queue_policy(self, queue: str) -> None:
        """Take maxReceiveCount and the visibility timeout from the queue itself when set there."""
        attributes = self.store.sqs.get_queue_attributes(
            QueueUrl=queue, AttributeNames=["RedrivePolicy", "VisibilityTimeout"]
        ).get("Attributes", {})
        if "RedrivePolicy" in attributes:
            self.max_receives = int(orjson.loads(attributes["RedrivePolicy"])["maxReceiveCount"])
        if "VisibilityTimeout" in attributes:
            self.visibility_s = max(int(attributes["VisibilityTimeout"]), 2)

    def handle(self, queue: str, message: dict[str, Any]) -> None:
        """Process one chunk message; delete it only once its results are written and counted."""
        receipt = message["ReceiptHandle"]
        try:
            chunk = ChunkMessage.decode(message["Body"])
        except (ValueError, KeyError, TypeError):
            log.error("dropping a message that is not a chunk: %.200s", message["Body"])
            self.store.sqs.delete_message(QueueUrl=queue, ReceiptHandle=receipt)
            return
        batch = self._batch(chunk)
        if batch is None:  # expired, or never created: nothing to do
            self.store.sqs.delete_message(QueueUrl=queue, ReceiptHandle=receipt)
            return
        if chunk.chunk not in batch.done_chunks:
            receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
            with _Heartbeat(self.store.sqs, queue, receipt, self.visibility_s):
                try:
                    lines, errors, timings = self.process(batch, chunk.chunk)
                except Exception as exc:  # noqa: BLE001 - recorded against the chunk, retried by SQS
                    self._failed(queue, receipt, batch, chunk.chunk, exc, receives)
                    return
            # Written, counted and acknowledged on the writer thread while the next chunk is predicted.
            self._wait_for_writes()
            self._pending = self._writer.submit(self._complete, queue, receipt, batch, chunk, lines, errors, timings)
            return
        self._wait_for_writes()
        if batch.complete and not batch.finished:
            self.finalise(batch)
            self._forget(batch)
        self.store.sqs.delete_message(QueueUrl=queue, ReceiptHandle=receipt)

    def _complete(
        self,
        queue: str,
        receipt: str,
        batch: Batch,
        chunk: ChunkMessage,
        lines: bytes,
        errors: int,
        timings: dict[str, int],
    ) -> None:
        started = time.perf_counter()
        self.store.put_bytes(self._output_key(batch, chunk.chunk), lines, "application/x-ndjson")
        timings["write"] = ms(time.perf_counter() - started)
        counted = self.store.count_chunk(batch, chunk.chunk, errors=errors, failed=False, timings_ms=timings)
        batch = counted or self.store.get(chunk.service, chunk.batch_id) or batch
        self._remember(batch)
        if batch.complete and not batch.finished:
            self.finalise(batch)
            self._forget(batch)
        self.store.sqs.delete_message(QueueUrl=queue, ReceiptHandle=receipt)

    def _batch(self, chunk: ChunkMessage) -> Batch | None:
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

    # -- work ------------------------------------------------------------------------------

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

    def process(self, batch: Batch, chunk: int) -> tuple[bytes, int, dict[str, int]]:
        """The chunk's results (JSON lines in input order), its error count and stage timings."""
        task = self.service.task
        start, end = batch.chunk_range(chunk)
        started = time.perf_counter()
        body = self.store.get_bytes(self.store.key(batch.service, batch.batch_id, f"inputs/{chunk:06d}.json"))
        inputs = task.fast_body(body, end - start)  # the file is a predict body: the API's fast path reads it
        if inputs is None:
            values = orjson.loads(body)["inputs"]
            inputs = [task.validate_input(value, index=start + i) for i, value in enumerate(values)]
        invalid: dict[int, str] = {}
        if len(inputs) < end - start:
            raw = self.store.get_bytes(self.store.key(batch.service, batch.batch_id, f"invalid/{chunk:06d}.json"))
            invalid = {int(position): str(message) for position, message in orjson.loads(raw)}
        read = time.perf_counter()
        loaded = self.model(batch.model_version)
        outputs = predict_outputs(self.service, loaded.model, inputs) if inputs else []
        predicted = time.perf_counter()
        lines: list[bytes] = []
        errors = 0
        produced = iter(outputs)
        for position in range(end - start):
            index = start + position
            if position in invalid:
                lines.append(error_line(index, "invalid_input", invalid[position]))
                errors += 1
                continue
            output = next(produced)
            if isinstance(output, UnusableOutput):
                message = f"inputs[{index}]: the model gave no finite prediction ({output.value}) for this input"
                lines.append(error_line(index, "unpredictable_input", message))
                errors += 1
            else:
                lines.append(orjson.dumps({"index": index, "output": output}))
        lines.append(b"")
        timings = {"read": ms(read - started), "predict": ms(predicted - read)}
        return b"\n".join(lines), errors, timings

    def _failed(self, queue: str, receipt: str, batch: Batch, chunk: int, exc: Exception, receives: int) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        self.store.put_json(
            self.store.key(batch.service, batch.batch_id, f"failures/{chunk:06d}.json"),
            {"reason": reason, "receives": receives},
        )
        log.warning(
            "chunk failed",
            extra={
                "service": batch.service,
                "batch_id": batch.batch_id,
                "chunk": chunk,
                "receives": receives,
                "reason": reason,
            },
        )
        if receives >= self.max_receives:
            # The last attempt: its items fail with the reason; SQS moves the message to the DLQ.
            self.fail_chunk(batch, chunk, f"failed {receives} times: {reason}")
        # Visible again at once: SQS counts the receive (and redrives on the last one).
        self.store.sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=receipt, VisibilityTimeout=0)

    def fail_chunk(self, batch: Batch, chunk: int, reason: str) -> None:
        """Record every item of ``chunk`` as failed with ``reason`` and count it; finalise if it was last."""
        start, end = batch.chunk_range(chunk)
        lines = [error_line(index, "chunk_failed", reason) for index in range(start, end)]
        self.store.put_bytes(self._output_key(batch, chunk), b"\n".join([*lines, b""]), "application/x-ndjson")
        counted = self.store.count_chunk(batch, chunk, errors=end - start, failed=True)
        if counted is not None and counted.complete and not counted.finished:
            self.finalise(counted)

    def sweep_dead_letters(self) -> None:
        """Chunks whose worker died on every attempt: fail their items so their batch still ends."""
        self._last_sweep = time.monotonic()
        try:
            dlq = self.store.queue_url(self.service.name, dead_letter=True)
        except Exception:  # noqa: BLE001 - no dead-letter queue configured
            return
        while not self.stop.is_set():
            messages = self.store.sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                try:
                    chunk = ChunkMessage.decode(message["Body"])
                    batch = self.store.get(chunk.service, chunk.batch_id)
                    if batch is not None and chunk.chunk not in batch.done_chunks:
                        self.fail_chunk(batch, chunk.chunk, self._last_failure(batch, chunk.chunk))
                except (ValueError, KeyError, TypeError):
                    pass
                self.store.sqs.change_message_visibility(
                    QueueUrl=dlq, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=_DLQ_KEEP_S
                )

    def _last_failure(self, batch: Batch, chunk: int) -> str:
        recorded = self.store.get_optional(self.store.key(batch.service, batch.batch_id, f"failures/{chunk:06d}.json"))
        if recorded is not None:
            failure = orjson.loads(recorded)
            return f"failed {failure['receives']} times: {failure['reason']}"
        return f"the worker stopped while processing it, {self.max_receives} times"

    def finalise(self, batch: Batch) -> None:
        """Write the one result file (chunk results in order) and mark the batch finished, once."""
        started = time.perf_counter()
        keys = [self._output_key(batch, chunk) for chunk in range(batch.chunks)]
        with ThreadPoolExecutor(8, thread_name_prefix="finalise") as pool:
            parts = list(pool.map(self.store.get_bytes, keys))
        result_key = self.store.key(batch.service, batch.batch_id, "results.jsonl")
        self.store.put_bytes(result_key, b"".join(parts), "application/x-ndjson")
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

    def _output_key(self, batch: Batch, chunk: int) -> str:
        return self.store.key(batch.service, batch.batch_id, f"outputs/{chunk:06d}.jsonl")
