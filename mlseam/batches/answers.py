"""What the batch routes answer: a batch's summary and, once finished, a page of its results."""

from __future__ import annotations

import time
from typing import Any

import orjson

from mlseam.batchstore import Batch, BatchStore
from mlseam.errors import BatchNotFoundError


def summary(batch: Batch, *, prefix: str) -> dict[str, Any]:
    """What ``POST`` and ``GET /v1/batches`` say about a batch (no results)."""
    return {
        "batch_id": batch.batch_id,
        "status": batch.status.value,
        "status_url": f"{prefix}/v1/batches/{batch.batch_id}",
        "model_version": batch.model_version,
        "progress": {"done": batch.done, "total": batch.total},
        "errors": batch.errors,
        "failed_chunks": batch.failed_chunks,
        "reason": batch.reason,
        "created_at": batch.created_at,
        "started_at": batch.started_at,
        "finished_at": batch.finished_at,
        "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.expires_at)),
        "timings_ms": batch.timings_ms,
    }


def find(store: BatchStore, service: str, batch_id: str) -> Batch:
    """The batch; BatchNotFoundError when the id is unknown or its retention is over."""
    batch = None
    if len(batch_id) == 32 and all(c in "0123456789abcdef" for c in batch_id):
        batch = store.get(service, batch_id)
    if batch is None or batch.expires_at < time.time():
        raise BatchNotFoundError(f"no batch {batch_id[:64]!r} for {service}; it never existed or has expired")
    return batch


def results_page(store: BatchStore, batch: Batch, offset: int, limit: int) -> list[bytes]:
    """Results ``offset`` to ``offset + limit`` (JSON lines, input order); none past the end."""
    offset = min(max(offset, 0), batch.total)
    end = min(offset + limit, batch.total)
    lines: list[bytes] = []
    if offset >= end:
        return lines
    for chunk in range(offset // batch.chunk_items, (end - 1) // batch.chunk_items + 1):
        first, _ = batch.chunk_range(chunk)
        lines.extend(store.chunk_outputs(batch, chunk)[max(offset - first, 0) : end - first])
    return lines


def status_body(store: BatchStore, batch: Batch, *, prefix: str, offset: int, limit: int, url_ttl_s: int) -> bytes:
    """The ``GET`` answer: the summary, plus results and the result file's URL once finished.

    An ``offset`` past the last result gives an empty page, reported at the end (``batch.total``).
    """
    body = summary(batch, prefix=prefix)
    if not (batch.finished and batch.result_key):
        return orjson.dumps(body)
    offset = min(max(offset, 0), batch.total)
    lines = results_page(store, batch, offset, limit)
    following = offset + len(lines)
    body["offset"] = offset
    body["limit"] = limit
    body["next_offset"] = following if following < batch.total else None
    body["result_url"] = store.result_url(batch.result_key, url_ttl_s)
    head = orjson.dumps(body)
    return head[:-1] + b',"outputs":[' + b",".join(lines) + b"]}"
