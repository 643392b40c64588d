"""What a batch is: its state, its chunk messages and failures, its result lines and its DynamoDB item."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson


class BatchStatus(StrEnum):
    """Where a batch is."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class Batch:
    """One batch job's state, as stored in DynamoDB."""

    service: str
    batch_id: str
    model_version: str
    total: int
    chunks: int
    chunk_items: int
    created_at: str
    expires_at: int
    request_sha256: str
    status: BatchStatus = BatchStatus.QUEUED
    done: int = 0
    errors: int = 0
    chunks_done: int = 0
    failed_chunks: int = 0
    enqueued: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    result_key: str | None = None
    reason: str | None = None
    done_chunks: set[int] = field(default_factory=set)
    timings_ms: dict[str, int] = field(default_factory=dict)
    """Milliseconds spent per stage: submit (validate, upload, queue), worker (read, predict, write), finalise."""

    @property
    def finished(self) -> bool:
        return self.status in (BatchStatus.SUCCEEDED, BatchStatus.FAILED)

    @property
    def complete(self) -> bool:
        """Every chunk is accounted for (the batch may still await finalising)."""
        return self.chunks_done >= self.chunks

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Item indices [start, end) of ``chunk``."""
        start = chunk * self.chunk_items
        return start, min(start + self.chunk_items, self.total)


@dataclass(frozen=True)
class ChunkMessage:
    """The SQS message of one chunk."""

    service: str
    batch_id: str
    chunk: int
    model_version: str

    def encode(self) -> str:
        return json.dumps(
            {"service": self.service, "batch_id": self.batch_id, "chunk": self.chunk, "version": self.model_version}
        )

    @classmethod
    def decode(cls, body: str) -> ChunkMessage:
        """The message in ``body``; ValueError when it is not a chunk message."""
        try:
            raw = json.loads(body)
            return cls(str(raw["service"]), str(raw["batch_id"]), int(raw["chunk"]), str(raw["version"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a chunk message: {exc}") from None


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk's last failed attempt, as the worker recorded it."""

    reason: str
    receives: int


def chunk_messages(batch: Batch) -> list[ChunkMessage]:
    """One message per chunk of ``batch``."""
    return [ChunkMessage(batch.service, batch.batch_id, n, batch.model_version) for n in range(batch.chunks)]


def output_line(index: int, output: Any) -> bytes:
    """The result line of item ``index`` that the model predicted."""
    return orjson.dumps({"index": index, "output": output})


def error_line(index: int, code: str, message: str) -> bytes:
    """The result line of item ``index`` that has no prediction, and why."""
    return orjson.dumps({"index": index, "error": {"code": code, "message": message}})


def ms(seconds: float) -> int:
    """Seconds as whole milliseconds, as batch timings are kept."""
    return round(seconds * 1000)


def batch_key(service: str, batch_id: str) -> dict[str, Any]:
    """The DynamoDB key of a batch's item."""
    return {"pk": {"S": f"batch#{service}#{batch_id}"}, "sk": {"S": "batch"}}


_NUMBERS = ("total", "chunks", "chunk_items", "expires_at", "done", "errors", "chunks_done", "failed_chunks")
_TEXTS = ("model_version", "created_at", "request_sha256", "started_at", "finished_at", "result_key", "reason")


def to_item(batch: Batch) -> dict[str, Any]:
    """``batch`` as a DynamoDB item (its progress set is written by counting chunks, never here)."""
    item: dict[str, Any] = {
        **batch_key(batch.service, batch.batch_id),
        "service": {"S": batch.service},
        "batch_id": {"S": batch.batch_id},
        "status": {"S": batch.status.value},
        "enqueued": {"BOOL": batch.enqueued},
        "timings_ms": {"M": {k: {"N": str(v)} for k, v in batch.timings_ms.items()}},
    }
    for name in _NUMBERS:
        item[name] = {"N": str(getattr(batch, name))}
    for name in _TEXTS:
        value = getattr(batch, name)
        if value is not None:
            item[name] = {"S": value}
    return item


def from_item(item: dict[str, Any]) -> Batch:
    """The batch a DynamoDB item holds."""
    texts: dict[str, Any] = {name: item[name]["S"] for name in _TEXTS if name in item}
    numbers: dict[str, Any] = {name: int(item[name]["N"]) for name in _NUMBERS if name in item}
    return Batch(
        service=item["service"]["S"],
        batch_id=item["batch_id"]["S"],
        status=BatchStatus(item["status"]["S"]),
        enqueued=bool(item.get("enqueued", {}).get("BOOL", False)),
        done_chunks={int(n) for n in item.get("done_chunks", {}).get("NS", [])},
        timings_ms={k: int(v["N"]) for k, v in item.get("timings_ms", {}).get("M", {}).items()},
        **texts,
        **numbers,
    )
