"""The model registry (DynamoDB): versions, metrics history, lineage and the champion pointer."""

from mlseam.registry.dynamo import DynamoRegistry
from mlseam.registry.memory import InMemoryRegistry
from mlseam.registry.protocol import Registry
from mlseam.registry.records import (
    Champion,
    ChampionEvent,
    ModelVersion,
    Status,
    VersionSummary,
    latest_pending,
    version_name,
    version_number,
)
from mlseam.registry.table import create_registry_table

__all__ = [
    "Champion",
    "ChampionEvent",
    "DynamoRegistry",
    "InMemoryRegistry",
    "ModelVersion",
    "Registry",
    "Status",
    "VersionSummary",
    "create_registry_table",
    "latest_pending",
    "version_name",
    "version_number",
]
