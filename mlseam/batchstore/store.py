"""Where batch jobs live: state in DynamoDB, inputs and outputs in S3, work items in SQS.

Layout of one batch (``<prefix>/<service>/<batch id>/`` in the batches bucket):

- ``inputs/<chunk>.json``: ``{"inputs": [...]}``, the chunk's valid inputs (a predict body);
- ``invalid/<chunk>.json``: ``[[position in chunk, message], ...]`` when some items were invalid;
- ``failures/<chunk>.json``: ``{"reason": ..., "receives": n}``, the chunk's last failed attempt;
- ``outputs/<chunk>.jsonl``: one result line per item of the chunk, in order;
- ``results.jsonl``: every result of the batch, one JSON object per line, written on finalising.

A result is ``{"index": i, "output": {...}}`` or ``{"index": i, "error": {"code": ..., "message": ...}}``.
The DynamoDB item counts progress atomically; a chunk is counted once (its number joins a set
under a condition), and the batch is finalised once (``finished_at`` is set under a condition).
Every failure of DynamoDB, S3 or SQS leaves this package as ``StoreError``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError

from mlseam.batchstore.calls import CONDITION_FAILED, NO_SUCH_KEY, call_aws
from mlseam.batchstore.queue import ChunkQueue
from mlseam.batchstore.records import Batch, BatchStatus, ChunkFailure, batch_key, from_item, to_item
from mlseam.errors import StoreError
from mlseam.registry.records import now_iso

_JSON = "application/json"
_JSON_LINES = "application/x-ndjson"
_READ_THREADS = 8
_INPUTS = "inputs/{:06d}.json"
_INVALID = "invalid/{:06d}.json"
_FAILURES = "failures/{:06d}.json"
_OUTPUTS = "outputs/{:06d}.jsonl"


class BatchStore:
    """Batch state (DynamoDB), data (S3) and chunk queue (SQS, ``queue``) of the platform."""

    def __init__(
        self, *, dynamodb: Any, s3: Any, sqs: Any, table: str, bucket: str, prefix: str, queue_prefix: str
    ) -> None:
        self.dynamodb = dynamodb
        self.s3 = s3
        self.table = table
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.queue = ChunkQueue(sqs, queue_prefix)

    # -- state -----------------------------------------------------------------------------

    def create(self, batch: Batch) -> bool:
        """Store a new batch; False when one with its id exists already (nothing is changed)."""
        created = self._table(
            "put_item", "recording a batch", Item=to_item(batch), ConditionExpression="attribute_not_exists(pk)"
        )
        return created is not None

    def get(self, service: str, batch_id: str) -> Batch | None:
        """The batch, or None when there is none (never created, or deleted by its TTL)."""
        found = self._table("get_item", "reading a batch", Key=batch_key(service, batch_id), ConsistentRead=True)
        item = found.get("Item")
        return from_item(item) if item else None

    def mark_enqueued(self, batch: Batch, queue_ms: int) -> None:
        """Record that every chunk message of ``batch`` was sent, and how long sending took."""
        self._table(
            "update_item",
            "recording a batch as queued",
            Key=batch_key(batch.service, batch.batch_id),
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
        counted = self._table(
            "update_item",
            "counting a chunk",
            Key=batch_key(batch.service, batch.batch_id),
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
                ":now": {"S": now_iso()},
                ":running": {"S": BatchStatus.RUNNING.value},
                **{f":t_{stage}": {"N": str(ms)} for stage, ms in timings.items()},
            },
            ReturnValues="ALL_NEW",
        )
        return None if counted is None else from_item(counted["Attributes"])

    def finalise(
        self, batch: Batch, status: BatchStatus, result_key: str, reason: str | None, finalise_ms: int
    ) -> bool:
        """Mark the batch finished, once: False when it was finalised before."""
        values: dict[str, Any] = {
            ":status": {"S": status.value},
            ":now": {"S": now_iso()},
            ":key": {"S": result_key},
            ":ms": {"N": str(finalise_ms)},
        }
        expression = "SET #status = :status, finished_at = :now, result_key = :key, timings_ms.#stage = :ms"
        if reason:
            expression += ", reason = :reason"
            values[":reason"] = {"S": reason}
        finalised = self._table(
            "update_item",
            "finalising a batch",
            Key=batch_key(batch.service, batch.batch_id),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(finished_at)",
            ExpressionAttributeNames={"#status": "status", "#stage": "finalise"},
            ExpressionAttributeValues=values,
        )
        return finalised is not None

    # -- data ------------------------------------------------------------------------------

    def put_chunk_inputs(self, batch: Batch, chunk: int, body: bytes) -> None:
        """Store the chunk's valid inputs, ``body`` being ``{"inputs": [...]}``."""
        self._put(self._key(batch, _INPUTS.format(chunk)), body, _JSON)

    def chunk_inputs(self, batch: Batch, chunk: int) -> bytes:
        """The chunk's ``{"inputs": [...]}`` as submitted (a predict body)."""
        return self._get(self._key(batch, _INPUTS.format(chunk)))

    def put_invalid(self, batch: Batch, chunk: int, invalid: list[tuple[int, str]]) -> None:
        """Store the chunk's invalid items: (position in the chunk, message) each."""
        self._put(self._key(batch, _INVALID.format(chunk)), orjson.dumps(invalid), _JSON)

    def invalid_items(self, batch: Batch, chunk: int) -> dict[int, str]:
        """The message of each invalid item of the chunk, by position in the chunk."""
        raw = orjson.loads(self._get(self._key(batch, _INVALID.format(chunk))))
        return {int(position): str(message) for position, message in raw}

    def put_chunk_outputs(self, batch: Batch, chunk: int, lines: list[bytes]) -> None:
        """Store the chunk's result lines, one per item in order."""
        self._put(self._key(batch, _OUTPUTS.format(chunk)), b"".join(line + b"\n" for line in lines), _JSON_LINES)

    def chunk_outputs(self, batch: Batch, chunk: int) -> list[bytes]:
        """The chunk's result lines, one per item in order."""
        return self._get(self._key(batch, _OUTPUTS.format(chunk))).splitlines()

    def put_failure(self, batch: Batch, chunk: int, failure: ChunkFailure) -> None:
        """Record the chunk's latest failed attempt (read back once the chunk is dead-lettered)."""
        body = orjson.dumps({"reason": failure.reason, "receives": failure.receives})
        self._put(self._key(batch, _FAILURES.format(chunk)), body, _JSON)

    def last_failure(self, batch: Batch, chunk: int) -> ChunkFailure | None:
        """The chunk's latest failed attempt; None when none was recorded (its worker died each time)."""
        recorded = self._get_optional(self._key(batch, _FAILURES.format(chunk)))
        if recorded is None:
            return None
        failure = orjson.loads(recorded)
        return ChunkFailure(reason=str(failure["reason"]), receives=int(failure["receives"]))

    def put_results(self, batch: Batch) -> str:
        """Write the one result file (every chunk's results, in order) and return its key."""
        keys = [self._key(batch, _OUTPUTS.format(chunk)) for chunk in range(batch.chunks)]
        with ThreadPoolExecutor(_READ_THREADS, thread_name_prefix="batch-results") as pool:
            parts = list(pool.map(self._get, keys))
        result_key = self._key(batch, "results.jsonl")
        self._put(result_key, b"".join(parts), _JSON_LINES)
        return result_key

    def result_url(self, result_key: str, expires_s: int) -> str:
        """A presigned URL reading the result file for ``expires_s`` seconds."""
        url: str = self.s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": result_key}, ExpiresIn=expires_s
        )
        return url

    # -- calls -----------------------------------------------------------------------------

    def _key(self, batch: Batch, name: str) -> str:
        return f"{self.prefix}/{batch.service}/{batch.batch_id}/{name}"

    def _table(self, operation: str, what: str, **kwargs: Any) -> Any:
        """A call on the batch table; None when its condition did not hold."""
        return call_aws(self.dynamodb, operation, what, none_on=CONDITION_FAILED, TableName=self.table, **kwargs)

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        what = f"writing s3://{self.bucket}/{key}"
        call_aws(self.s3, "put_object", what, Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def _get(self, key: str) -> bytes:
        got = call_aws(self.s3, "get_object", f"reading s3://{self.bucket}/{key}", Bucket=self.bucket, Key=key)
        return self._read_body(key, got)

    def _get_optional(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such key."""
        what = f"reading s3://{self.bucket}/{key}"
        got = call_aws(self.s3, "get_object", what, none_on=NO_SUCH_KEY, Bucket=self.bucket, Key=key)
        return None if got is None else self._read_body(key, got)

    def _read_body(self, key: str, got: dict[str, Any]) -> bytes:
        try:
            data: bytes = got["Body"].read()
        except (BotoCoreError, OSError) as exc:  # the connection broke mid-body
            raise StoreError(f"reading s3://{self.bucket}/{key} failed: {exc}") from exc
        return data
