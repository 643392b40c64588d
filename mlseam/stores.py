"""Builds the three real stores (PostgreSQL, DynamoDB, S3) from settings."""

from __future__ import annotations

from dataclasses import dataclass

from mlseam.artifacts import ArtifactStore, S3ArtifactStore
from mlseam.aws import aws_client
from mlseam.examples import ExamplesStore, PostgresExamplesStore
from mlseam.registry import DynamoRegistry, Registry
from mlseam.settings import Settings


@dataclass(frozen=True)
class Stores:
    """The examples store, the registry and the artifact store one process works with."""

    examples: ExamplesStore
    registry: Registry
    artifacts: ArtifactStore


def build_stores(settings: Settings) -> Stores:
    """The real stores for ``settings`` (the local stack's emulator and database by default)."""
    return Stores(
        examples=PostgresExamplesStore(settings.dsn),
        registry=DynamoRegistry(aws_client(settings, "dynamodb"), settings.registry_table),
        artifacts=S3ArtifactStore(aws_client(settings, "s3"), settings.artifacts_bucket),
    )
