"""Where batch jobs live: state in DynamoDB, inputs and outputs in S3, work items in SQS.

Layout of one batch (``<prefix>/<service>/<batch id>/`` in the batches bucket):

- ``inputs/<chunk>.json``: ``{"inputs": [...]}``, the chunk's valid inputs (a predict body);
- ``invalid/<chunk>.json``: ``[[position in chunk, message], ...]`` when some items were invalid;
- ``outputs/<chunk>.json``: one result per item of the chunk, in order;
- ``results.jsonl``: every result of the batch, one JSON object per line, written on finalising.

A result is ``{"index": i, "output": {...}}`` or ``{"index": i, "error": {"code": ..., "message": ...}}``.
The DynamoDB item counts progress atomically; a chunk is counted once (its number joins a set
under a condition), and the batch is finalised once (``finished_at`` is set under a condition).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from botocore.exceptions import ClientError

from mlseam.errors import MlseamError, StoreError


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
        raw = json.loads(body)
        return cls(str(raw["service"]), str(raw["batch_id"]), int(raw["chunk"]), str(raw["version"]))


def chunk_messages(batch: Batch) -> list[ChunkMessage]:
    """One message per chunk of ``batch``."""
    return [ChunkMessage(batch.service, batch.batch_id, n, batch.model_version) for n in range(batch.chunks)]


def ms(seconds: float) -> int:
    """Seconds as whole milliseconds, as batch timings are kept."""
    return round(seconds * 1000)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def queue_name(prefix: str, service: str) -> str:
    """The SQS queue of ``service``'s chunks (its dead-letter queue adds ``-dlq``)."""
    return f"{prefix}-{service}-batches"


def _pk(service: str, batch_id: str) -> str:
    return f"batch#{service}#{batch_id}"


_NUMBERS = ("total", "chunks", "chunk_items", "expires_at", "done", "errors", "chunks_done", "failed_chunks")
_TEXTS = ("model_version", "created_at", "request_sha256", "started_at", "finished_at", "result_key", "reason")


def _to_item(batch: Batch) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": _pk(batch.service, batch.batch_id)},
        "sk": {"S": "batch"},
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


def _from_item(item: dict[str, Any]) -> Batch:
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


class BatchStore:
    """Batch state (DynamoDB), data (S3) and chunk queue (SQS) of the platform."""

    def __init__(
        self, *, dynamodb: Any, s3: Any, sqs: Any, table: str, bucket: str, prefix: str, queue_prefix: str
    ) -> None:
        self.dynamodb = dynamodb
        self.s3 = s3
        self.sqs = sqs
        self.table = table
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.queue_prefix = queue_prefix
        self._queue_urls: dict[str, str] = {}

    # -- state -----------------------------------------------------------------------------

    def create(self, batch: Batch) -> bool:
        """Store a new batch; False when one with its id exists already (nothing is changed)."""
        try:
            self.dynamodb.put_item(
                TableName=self.table, Item=_to_item(batch), ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, service: str, batch_id: str) -> Batch | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"pk": {"S": _pk(service, batch_id)}, "sk": {"S": "batch"}}, ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def mark_enqueued(self, batch: Batch, queue_ms: int) -> None:
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": _pk(batch.service, batch.batch_id)}, "sk": {"S": "batch"}},
            UpdateExpression="SET enqueued = :true, timings_ms.#stage = :ms",
            ExpressionAttributeNames={"#stage": "queue"},
            ExpressionAttributeValues={":true": {"BOOL": True}, ":ms": {"N": str(queue_ms)}},
        )
        batch.enqueued = True
        batch.timings_ms["queue"] = queue_ms

    def count_chunk(
        self, batch: Batch, chunk: int, *, errors: int, failed: bool, timings_ms: dict[str, int] | None = None
    ) -> Batch | None:
        """Add ``chunk``'s items to the progress, once: None when it was counted before."""
        start, end = batch.chunk_range(chunk)
        timings = timings_ms or {}
        stages = "".join(f", timings_ms.#t_{stage} :t_{stage}" for stage in timings)
        try:
            item = self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": _pk(batch.service, batch.batch_id)}, "sk": {"S": "batch"}},
                UpdateExpression=(
                    "ADD done_chunks :chunk, done :items, errors :errors, chunks_done :one, failed_chunks :failed"
                    f"{stages} SET started_at = if_not_exists(started_at, :now), #status = :running"
                ),
                ConditionExpression="attribute_exists(pk) AND NOT contains(done_chunks, :number)",
                ExpressionAttributeNames={"#status": "status", **{f"#t_{stage}": stage for stage in timings}},
                ExpressionAttributeValues={
                    ":chunk": {"NS": [str(chunk)]},
                    ":number": {"N": str(chunk)},
                    ":items": {"N": str(end - start)},
                    ":errors": {"N": str(errors)},
                    ":one": {"N": "1"},
                    ":failed": {"N": "1" if failed else "0"},
                    ":now": {"S": utc_now()},
                    ":running": {"S": BatchStatus.RUNNING.value},
                    **{f":t_{stage}": {"N": str(ms)} for stage, ms in timings.items()},
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return None
            raise
        return _from_item(item["Attributes"])

    def finalise(
        self, batch: Batch, status: BatchStatus, result_key: str, reason: str | None, finalise_ms: int
    ) -> bool:
        """Mark the batch finished, once: False when it was finalised before."""
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":now": {"S": utc_now()},
            ":key": {"S": result_key},
            ":ms": {"N": str(finalise_ms)},
        }
        expression = "SET #status = :status, finished_at = :now, result_key = :key, timings_ms.#stage = :ms"
        if reason:
            expression += ", reason = :reason"
            values[":reason"] = {"S": reason}
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"pk": {"S": _pk(batch.service, batch.batch_id)}, "sk": {"S": "batch"}},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(finished_at)",
                ExpressionAttributeNames={"#status": "status", "#stage": "finalise"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- data ------------------------------------------------------------------------------

    def key(self, service: str, batch_id: str, name: str) -> str:
        return f"{self.prefix}/{service}/{batch_id}/{name}"

    def put_json(self, key: str, value: Any) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=orjson.dumps(value), ContentType="application/json")

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def get_bytes(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def get_optional(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""
        try:
            return self.get_bytes(key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def presign(self, key: str, expires_s: int) -> str:
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url

    # -- queue -----------------------------------------------------------------------------

    def queue_url(self, service: str, *, dead_letter: bool = False) -> str:
        name = queue_name(self.queue_prefix, service) + ("-dlq" if dead_letter else "")
        if name not in self._queue_urls:
            try:
                self._queue_urls[name] = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            except ClientError as exc:
                raise StoreError(f"SQS queue {name} does not exist; create it (Terraform does in AWS)") from exc
        return self._queue_urls[name]

    def enqueue(self, messages: list[ChunkMessage]) -> None:
        """Send one SQS message per chunk (ten per call), retrying the ones SQS refused."""
        if not messages:
            return
        url = self.queue_url(messages[0].service)
        for first in range(0, len(messages), 10):
            entries = [{"Id": str(i), "MessageBody": m.encode()} for i, m in enumerate(messages[first : first + 10])]
            for attempt in range(5):
                failed = self.sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
                if not failed:
                    break
                refused = {f["Id"] for f in failed}
                entries = [e for e in entries if e["Id"] in refused]
                time.sleep(0.1 * 2**attempt)
            else:
                raise MlseamError(f"SQS refused {len(entries)} chunk messages: {failed[0].get('Message')}")


def create_batch_resources(
    *,
    dynamodb: Any,
    s3: Any,
    sqs: Any,
    table: str,
    bucket: str,
    region: str,
    queue_prefix: str,
    services: list[str],
    max_receives: int,
    visibility_timeout_s: int,
) -> None:
    """Create the table, bucket and queues as Terraform does in AWS (local stack and tests only)."""
    from mlseam.artifacts import create_bucket
    from mlseam.registry import create_registry_table

    create_registry_table(dynamodb, table)  # same shape: pk/sk, TTL on expires_at
    create_bucket(s3, bucket, region)
    for service in services:
        dlq = sqs.create_queue(QueueName=queue_name(queue_prefix, service) + "-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=queue_name(queue_prefix, service),
            Attributes={
                "VisibilityTimeout": str(visibility_timeout_s),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)}),
            },
        )
