"""The batch table, bucket and queues, created as Terraform creates them (local stack and tests only)."""

from __future__ import annotations

import json
from typing import Any

from mlseam.artifacts import create_bucket
from mlseam.batchstore.queue import queue_name
from mlseam.registry import create_registry_table


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
    """Create the table, bucket and each service's queue with its dead-letter queue."""
    create_registry_table(dynamodb, table)  # same shape: pk/sk, TTL on expires_at
    create_bucket(s3, bucket, region)
    for service in services:
        dlq = sqs.create_queue(QueueName=queue_name(queue_prefix, service, dead_letter=True))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=queue_name(queue_prefix, service),
            Attributes={
                "VisibilityTimeout": str(visibility_timeout_s),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)}),
            },
        )
