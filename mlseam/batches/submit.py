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

from mlseam.batches.store import Batch, BatchStore, chunk_messages, ms, utc_now
from mlseam.errors import InvalidInputError
from mlseam.manifest import Service
from mlseam.registry import Registry
from mlseam.serving.problems import ApiError
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
    if key is None:
        return None
    if not key or len(key) > _MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(
            422, "invalid_idempotency_key", f"Idempotency-Key must be 1 to {_MAX_KEY_LENGTH} printable characters"
        )
    return key


def parse_inputs(body: bytes, max_items: int) -> list[Any]:
    """The ``inputs`` list of a batch body, or ApiError saying what to fix."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, "invalid_input", f"body: is not valid JSON ({exc})") from None
    if type(parsed) is not dict or set(parsed) != {"inputs"} or type(parsed["inputs"]) is not list:
        raise ApiError(422, "invalid_input", 'body: must be {"inputs": [...]} and nothing else')
    values: list[Any] = parsed["inputs"]
    if not values:
        raise ApiError(422, "invalid_input", "inputs: List should have at least 1 item")
    if len(values) > max_items:
        raise ApiError(
            413, "too_many_items", f"inputs: {len(values)} items; a batch holds at most {max_items}; split it"
        )
    return values


def build_chunk(service: Service, values: list[Any], offset: int) -> Chunk:
    """``values`` (one chunk, starting at batch index ``offset``) checked; invalid ones set aside."""
    task = service.task
    body = orjson.dumps({"inputs": values})
    if task.fast_inputs(values, body) is not None:
        return Chunk(body, [])
    valid: list[Any] = []
    invalid: list[tuple[int, str]] = []
    for position, value in enumerate(values):
        try:
            task.validate_input(value, index=offset + position)
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
    store.queue_url(name)  # no queue, no batch: fail before anything is written
    champion = registry.get_champion(name)
    if champion is None:
        raise ApiError(503, "no_model", f"{name} has no champion yet; retrain it before submitting batches")

    started = time.perf_counter()
    size = settings.batch_chunk_items
    starts = range(0, len(values), size)
    chunks = [build_chunk(service, values[s : s + size], s) for s in starts]
    validated = time.perf_counter()

    def upload(numbered: tuple[int, Chunk]) -> None:
        number, chunk = numbered
        store.put_bytes(store.key(name, batch_id, f"inputs/{number:06d}.json"), chunk.body)
        if chunk.invalid:
            store.put_json(store.key(name, batch_id, f"invalid/{number:06d}.json"), chunk.invalid)

    with ThreadPoolExecutor(_UPLOAD_THREADS, thread_name_prefix="batch-upload") as pool:
        list(pool.map(upload, enumerate(chunks)))
    uploaded = time.perf_counter()

    batch = Batch(
        service=name,
        batch_id=batch_id,
        model_version=champion.version,
        total=len(values),
        chunks=len(chunks),
        chunk_items=size,
        created_at=utc_now(),
        expires_at=int(time.time() + settings.batch_retention_days * 86400),
        request_sha256=request_sha256,
        timings_ms={"validate": ms(validated - started), "upload": ms(uploaded - validated)},
    )
    if not store.create(batch):  # a concurrent retry with the same key won
        existing = store.get(name, batch_id)
        if existing is None:  # pragma: no cover - created and expired within one request
            raise ApiError(409, "conflict", "the batch changed while it was submitted; retry")
        return _replayed(existing, request_sha256, store), False
    store.enqueue(chunk_messages(batch))
    store.mark_enqueued(batch, ms(time.perf_counter() - uploaded))
    log.info(
        "batch accepted",
        extra={
            "service": name,
            "batch_id": batch_id,
            "items": batch.total,
            "chunks": batch.chunks,
            "invalid": sum(len(c.invalid) for c in chunks),
            **{f"{stage}_ms": ms for stage, ms in batch.timings_ms.items()},
        },
    )
    return batch, True


def _replayed(existing: Batch, request_sha256: str, store: BatchStore) -> Batch:
    if existing.request_sha256 != request_sha256:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"Idempotency-Key already names batch {existing.batch_id} with a different body; use a new key",
        )
    if not existing.enqueued:  # the first attempt stopped before its messages were sent
        started = time.perf_counter()
        store.enqueue(chunk_messages(existing))
        store.mark_enqueued(existing, ms(time.perf_counter() - started))
    return existing
