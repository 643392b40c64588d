"""``mlseam worker <service>``: polls the service's chunk queue and hands each chunk to the processor.

For each message: the chunk is predicted while a heartbeat extends its visibility every half
timeout; its results are then written and counted on a writer thread (while the next chunk is
predicted) and only then is the message deleted. A failed attempt hands the message straight
back, so SQS retries it and, after its last allowed receive, moves it to the dead-letter queue;
the dead letters are swept now and then so their batches still end. SIGTERM (``stop``) lets
the chunk in hand finish and hands back the messages not started.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from mlseam.artifacts import ArtifactStore
from mlseam.batches.chunks import ChunkProcessor, ChunkResult
from mlseam.batchstore import Batch, BatchStore, ChunkMessage, ChunkQueue, ReceivedMessage
from mlseam.errors import ConfigError, StoreError
from mlseam.manifest import Service
from mlseam.registry import Registry
from mlseam.runtime import PredictionRecorder, build_recorder
from mlseam.settings import Settings
from mlseam.stores import Stores

log = logging.getLogger("mlseam.worker")

_PREFETCH = 10
"""Chunk messages taken per receive (each is extended if it waits long behind the others)."""
_DLQ_SWEEP_S = 30.0
_DLQ_KEEP_S = 43200  # a dead letter handled here stays for operators, out of sight for 12 h


class Heartbeat:
    """Extends a message's visibility every half timeout until stopped."""

    def __init__(self, queue: ChunkQueue, message: ReceivedMessage, timeout_s: float) -> None:
        self.queue, self.message, self.timeout_s = queue, message, timeout_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.timeout_s / 2):
            try:
                self.queue.extend(self.message, self.timeout_s)
                log.info("extended a chunk's visibility", extra={"seconds": self.timeout_s})
            except StoreError as exc:  # the next receive will simply see it again
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
        recorder: PredictionRecorder | None = None,
    ) -> None:
        self.service = service
        self.recorder = recorder
        self.queue = store.queue
        self.settings = settings
        self.stop = threading.Event()
        self.visibility_s = settings.batch_visibility_timeout_s
        self.chunks = ChunkProcessor(
            service,
            store=store,
            registry=registry,
            artifacts=artifacts,
            max_receives=settings.batch_max_receives,
            recorder=recorder,
        )
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-writer")
        self._pending: Future[None] | None = None
        self._last_sweep = -math.inf  # monotonic time starts near 0 on a fresh boot

    @classmethod
    def for_stores(cls, service: Service, stores: Stores, settings: Settings) -> Worker:
        """A worker on the process's stores (``build_stores``), which include the batch store."""
        if stores.batches is None:
            raise ConfigError("a batch worker needs the batch store; build the stores with build_stores")
        return cls(
            service,
            store=stores.batches,
            registry=stores.registry,
            artifacts=stores.artifacts,
            settings=settings,
            recorder=build_recorder(settings, stores.predictions),
        )

    def run(self) -> None:
        """Process chunks until ``stop`` is set; a store failing is logged and retried, never fatal."""
        name = self.service.name
        self._read_queue_policy()
        queue = self.queue.queue_url(name)
        log.info("worker started", extra={"service": name, "queue": queue, "max_receives": self.chunks.max_receives})
        if self.recorder is not None:
            self.recorder.start()
        try:
            while not self.stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # SQS, S3 or DynamoDB unreachable: retry, never die
                    if self.stop.is_set():
                        break
                    log.exception("worker loop failed; retrying in 1 s", extra={"service": name})
                    self.stop.wait(1.0)
        finally:
            self._wait_for_writes()
            self._writer.shutdown(wait=True)
            if self.recorder is not None:
                self.recorder.stop()
        log.info("worker stopped", extra={"service": name})

    def _read_queue_policy(self) -> None:
        """Take maxReceiveCount and the visibility timeout from the queue itself when set there."""
        policy = self.queue.policy(self.service.name)
        if policy.max_receives is not None:
            self.chunks.max_receives = policy.max_receives
        if policy.visibility_s is not None:
            self.visibility_s = max(policy.visibility_s, 2)

    def poll_once(self) -> None:
        """One long poll of the queue, and each message it brought handled in turn."""
        if time.monotonic() - self._last_sweep > _DLQ_SWEEP_S:
            self.sweep_dead_letters()
        messages = self.queue.receive(self.service.name, max_messages=_PREFETCH, wait_s=self.settings.worker_wait_s)
        received = time.monotonic()
        for message in messages:
            if self.stop.is_set():  # received while stopping: hand it straight back
                self.queue.release(message)
                continue
            if time.monotonic() - received > self.visibility_s / 3:  # waited behind slow chunks: keep it ours
                self.queue.extend(message, self.visibility_s)
            self.handle(message)

    def handle(self, message: ReceivedMessage) -> None:
        """Process one chunk message; delete it only once its results are written and counted."""
        try:
            chunk = ChunkMessage.decode(message.body)
        except ValueError:
            log.error("dropping a message that is not a chunk: %.200s", message.body)
            self.queue.acknowledge(message)
            return
        batch = self.chunks.batch_for(chunk)
        if batch is None:  # expired, or never created: nothing to do
            self.queue.acknowledge(message)
            return
        if chunk.chunk in batch.done_chunks:  # counted already: it may only await finalising
            self._wait_for_writes()
            self.chunks.finish_if_complete(batch)
            self.queue.acknowledge(message)
            return
        result = self._predict(message, batch, chunk.chunk)
        if result is None:
            self.queue.release(message)
            return
        # Written, counted and acknowledged on the writer thread while the next chunk is predicted.
        self._wait_for_writes()
        self._pending = self._writer.submit(self._complete, message, batch, chunk.chunk, result)

    def _predict(self, message: ReceivedMessage, batch: Batch, chunk: int) -> ChunkResult | None:
        """The chunk predicted while its visibility is kept; None when the attempt failed (and was recorded)."""
        with Heartbeat(self.queue, message, self.visibility_s):
            try:
                return self.chunks.predict(batch, chunk)
            except Exception as exc:  # noqa: BLE001 - recorded against the chunk, retried by SQS
                self.chunks.record_failure(batch, chunk, exc, message.receives)
                return None

    def _complete(self, message: ReceivedMessage, batch: Batch, chunk: int, result: ChunkResult) -> None:
        self.chunks.complete(batch, chunk, result)
        self.queue.acknowledge(message)

    def _wait_for_writes(self) -> None:
        """Let the chunk being written finish (its message is deleted only then)."""
        if self._pending is not None:
            try:
                self._pending.result()
            except Exception:  # its message stays in the queue and comes back
                log.exception("writing a chunk's results failed", extra={"service": self.service.name})
            self._pending = None

    def sweep_dead_letters(self) -> None:
        """Chunks whose worker died on every attempt: fail their items so their batch still ends."""
        self._last_sweep = time.monotonic()
        try:
            self.queue.queue_url(self.service.name, dead_letter=True)
        except StoreError:  # no dead-letter queue configured
            return
        while not self.stop.is_set():
            messages = self.queue.receive_dead_letters(self.service.name)
            if not messages:
                return
            for message in messages:
                with contextlib.suppress(ValueError):  # not a chunk: nothing to fail
                    self.chunks.fail_dead_letter(ChunkMessage.decode(message.body))
                self.queue.park(message, _DLQ_KEEP_S)
