"""The batch store: batch state (DynamoDB), inputs and results (S3), chunk queues (SQS)."""

from mlseam.batchstore.queue import ChunkQueue, QueuePolicy, ReceivedMessage, queue_name
from mlseam.batchstore.records import (
    Batch,
    BatchStatus,
    ChunkFailure,
    ChunkMessage,
    chunk_messages,
    error_line,
    ms,
    output_line,
)
from mlseam.batchstore.resources import create_batch_resources
from mlseam.batchstore.store import BatchStore

__all__ = [
    "Batch",
    "BatchStatus",
    "BatchStore",
    "ChunkFailure",
    "ChunkMessage",
    "ChunkQueue",
    "QueuePolicy",
    "ReceivedMessage",
    "chunk_messages",
    "create_batch_resources",
    "error_line",
    "ms",
    "output_line",
    "queue_name",
]
