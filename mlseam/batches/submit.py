"""Accepting a batch: validate every item, write the inputs to S3 in chunks, record it, queue the chunks.

The order makes a crash harmless: inputs are written first (keys under the batch id, the same
bytes on a retry), the DynamoDB record is created under a condition, the chunk messages are
sent last and the record says so. A retry with the same ``Idempotency-Key`` finds the record and
re-sends the messages if they may not have gone out (the worker counts a chunk only once).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson

from mlseam.batchstore import Batch, BatchStore, chunk_messages, ms
from mlseam.errors import (
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NoModelError,
    TooManyItemsError,
)
from mlseam.manifest import Service
from mlseam.registry import Registry
from mlseam.registry.records import now_iso
from mlseam.settings import Settings

log = logging.getLogger("mlseam.batches")

_UPLOAD_THREADS = 8
_MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Chunk:
    """One chunk's input file and the per-item errors found before any prediction."""

    body: bytes
    """``{"inputs": [...]}``: the chunk's valid inputs, in order."""
    invalid: list[tuple[int, str]]
    """(position in the chunk, message) of each invalid item."""


def batch_id_for(service: str, idempotency_key: str | None) -> str:
    """A fresh id, or the one id an idempotency key always maps to (per service)."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{service}\0{idempotency_key}".encode()).hexdigest()[:32]


def check_idempotency_key(key: str | None) -> str | None:
    """``key`` when it is a usable Idempotency-Key (or None: there is none); InvalidInputError otherwise."""
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInputError(
            f"Idempotency-Key must be 1 to {_MAX_KEY_LENGTH} printable characters", field="Idempotency-Key"
        )
    return key


def parse_inputs(body: bytes, max_items: int) -> list[Any]:
    """The ``inputs`` list of a batch body; InvalidInputError (or TooManyItemsError) saying what to fix."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"body: is not valid JSON ({exc})", field="body") from None
    if type(parsed) is not dict or set(parsed) != {"inputs"} or type(parsed["inputs"]) is not list:
        raise InvalidInputError('body: must be {"inputs": [...]} and nothing else', field="body")
    values: list[Any] = parsed["inputs"]
    if not values:
        raise InvalidInputError("inputs: List should have at least 1 item", field="inputs")
    if len(values) > max_items:
        raise TooManyItemsError(
            f"inputs: {len(values)} items; a batch holds at most {max_items}; split it", field="inputs"
        )
    return values


def build_chunk(service: Service, values: list[Any], offset: int) -> Chunk:
    """``values`` (one chunk, starting at batch index ``offset``) checked; invalid ones set aside."""
    kind = service.kind
    body = orjson.dumps({"inputs": values})
    if kind.fast_inputs(values, body) is not None:
        return Chunk(body, [])
    valid: list[Any] = []
    invalid: list[tuple[int, str]] = []
    for position, value in enumerate(values):
        try:
            kind.validate_input(value, index=offset + position)
        except InvalidInputError as exc:
            invalid.append((position, f"inputs[{offset + position}]" + str(exc).removeprefix("input")))
        else:
            valid.append(value)
    return Chunk(orjson.dumps({"inputs": valid}), invalid)


def submit_batch(
    service: Service,
    body: bytes,
    *,
    idempotency_key: str | None,
    store: BatchStore,
    registry: Registry,
    settings: Settings,
) -> tuple[Batch, bool]:
    """The batch for ``body`` and whether it was created now (False: an idempotent retry)."""
    name = service.name
    key = check_idempotency_key(idempotency_key)
    request_sha256 = hashlib.sha256(body).hexdigest()
    batch_id = batch_id_for(name, key)
    if key is not None:
        existing = store.get(name, batch_id)
        if existing is not None:
            return _replayed(existing, request_sha256, store), False

    values = parse_inputs(body, settings.batch_max_items)
    store.queue.queue_url(name)  # no queue, no batch: fail before anything is written
    champion = registry.get_champion(name)
    if champion is None:
        raise NoModelError(f"{name} has no champion yet; retrain it before submitting batches")
    batch = _new_batch(name, batch_id, champion.version, len(values), request_sha256, settings)
    invalid = _store_inputs(service, store, batch, values)
    if not store.create(batch):  # a concurrent retry with the same key won
        existing = store.get(name, batch_id)
        if existing is None:  # pragma: no cover - created and expired within one request
            raise ConflictError("the batch changed while it was submitted; retry")
        return _replayed(existing, request_sha256, store), False
    _enqueue(store, batch)
    _log_accepted(batch, invalid)
    return batch, True


def _new_batch(service: str, batch_id: str, version: str, total: int, request_sha256: str, settings: Settings) -> Batch:
    """A batch of ``total`` items, before anything of it is stored."""
    size = settings.batch_chunk_items
    return Batch(
        service=service,
        batch_id=batch_id,
        model_version=version,
        total=total,
        chunks=-(-total // size),
        chunk_items=size,
        created_at=now_iso(),
        expires_at=int(time.time() + settings.batch_retention_days * 86400),
        request_sha256=request_sha256,
    )


def _log_accepted(batch: Batch, invalid: int) -> None:
    timings = {f"{stage}_ms": value for stage, value in batch.timings_ms.items()}
    log.info(
        "batch accepted",
        extra={
            "service": batch.service,
            "batch_id": batch.batch_id,
            "items": batch.total,
            "chunks": batch.chunks,
            "invalid": invalid,
            **timings,
        },
    )


def _store_inputs(service: Service, store: BatchStore, batch: Batch, values: list[Any]) -> int:
    """Validate and write every chunk's inputs (invalid items set aside); how many were invalid."""
    started = time.perf_counter()
    size = batch.chunk_items
    chunks = [build_chunk(service, values[s : s + size], s) for s in range(0, len(values), size)]
    validated = time.perf_counter()

    def upload(numbered: tuple[int, Chunk]) -> None:
        number, chunk = numbered
        store.put_chunk_inputs(batch, number, chunk.body)
        if chunk.invalid:
            store.put_invalid(batch, number, chunk.invalid)

    with ThreadPoolExecutor(_UPLOAD_THREADS, thread_name_prefix="batch-upload") as pool:
        list(pool.map(upload, enumerate(chunks)))
    batch.timings_ms = {"validate": ms(validated - started), "upload": ms(time.perf_counter() - validated)}
    return sum(len(chunk.invalid) for chunk in chunks)


def _enqueue(store: BatchStore, batch: Batch) -> None:
    """Send the batch's chunk messages, then record that they went out."""
    started = time.perf_counter()
    store.queue.enqueue(chunk_messages(batch))
    store.mark_enqueued(batch, ms(time.perf_counter() - started))


def _replayed(existing: Batch, request_sha256: str, store: BatchStore) -> Batch:
    """The batch a retry names, its messages re-sent if they may not have gone out."""
    if existing.request_sha256 != request_sha256:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key already names batch {existing.batch_id} with a different body; use a new key"
        )
    if not existing.enqueued:  # the first attempt stopped before its messages were sent
        _enqueue(store, existing)
    return existing
