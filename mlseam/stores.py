"""Builds the real stores (PostgreSQL; DynamoDB, S3 and SQS) from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlseam.artifacts import ArtifactStore, S3ArtifactStore, build_trust
from mlseam.aws import aws_client
from mlseam.batchstore import BatchStore
from mlseam.batchstore import create_batch_resources as create_resources
from mlseam.events import NO_EVENTS, EventPublisher, build_publisher
from mlseam.examples import ExamplesStore, PostgresExamplesStore
from mlseam.examples.credentials import SecretCredentials, with_credentials
from mlseam.predictionlog import PostgresPredictionLog, PredictionLog
from mlseam.registry import DynamoRegistry, Registry
from mlseam.settings import Settings


@dataclass(frozen=True)
class Stores:
    """The examples store, the registry, the artifact store (and more) one process works with."""

    examples: ExamplesStore
    registry: Registry
    artifacts: ArtifactStore
    batches: BatchStore | None = None
    """Queue-style batch jobs (SQS, S3, DynamoDB); None where a process has no use for them."""
    predictions: PredictionLog | None = None
    """The prediction log (PostgreSQL); None: predictions get ids but are not logged."""
    events: EventPublisher = NO_EVENTS
    """Where platform events go (SNS); by default nowhere."""


def build_stores(settings: Settings) -> Stores:
    """The real stores for ``settings`` (the local stack's emulator and database by default)."""
    # AWS clients are thread-safe and each costs tens of milliseconds to build: one per AWS service.
    dynamodb, s3 = aws_client(settings, "dynamodb"), aws_client(settings, "s3")
    credentials = database_credentials(settings)
    return Stores(
        examples=PostgresExamplesStore(settings.dsn, credentials=credentials),
        registry=DynamoRegistry(dynamodb, settings.registry_table),
        artifacts=S3ArtifactStore(s3, settings.artifacts_bucket, trust=build_trust(settings)),
        batches=build_batch_store(settings, dynamodb=dynamodb, s3=s3),
        predictions=PostgresPredictionLog(settings.dsn, credentials=credentials),
        events=build_publisher(settings),
    )


def database_credentials(settings: Settings) -> SecretCredentials | None:
    """Where the database password comes from: a Secrets Manager secret, or None (it is in the URL)."""
    if settings.database_secret_id is None:
        return None
    return SecretCredentials.from_secrets_manager(aws_client(settings, "secretsmanager"), settings.database_secret_id)


def database_url(settings: Settings) -> str:
    """The database URL with the secret's credentials written in, for tools that take one URL (Alembic)."""
    credentials = database_credentials(settings)
    return settings.dsn if credentials is None else with_credentials(settings.dsn, credentials.get())


def build_batch_store(settings: Settings, *, dynamodb: Any = None, s3: Any = None) -> BatchStore:
    """The batch store of ``settings``: its table, bucket and queue names (clients given are reused)."""
    return BatchStore(
        dynamodb=dynamodb or aws_client(settings, "dynamodb"),
        s3=s3 or aws_client(settings, "s3"),
        sqs=aws_client(settings, "sqs"),
        table=settings.batches_table,
        bucket=settings.batches_bucket,
        prefix=settings.batches_prefix,
        queue_prefix=settings.queue_prefix,
    )


def create_batch_resources(settings: Settings, services: list[str]) -> None:
    """The batch table, bucket and per-service queues, as Terraform creates them (local stack, tests)."""
    create_resources(
        dynamodb=aws_client(settings, "dynamodb"),
        s3=aws_client(settings, "s3"),
        sqs=aws_client(settings, "sqs"),
        table=settings.batches_table,
        bucket=settings.batches_bucket,
        region=settings.aws_region,
        queue_prefix=settings.queue_prefix,
        services=services,
        max_receives=settings.batch_max_receives,
        visibility_timeout_s=settings.batch_visibility_timeout_s,
    )
