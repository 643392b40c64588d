"""The model registry (DynamoDB): versions, metrics history, lineage and the champion pointer."""

from mlseam.registry.dynamo import DynamoRegistry, create_registry_table
from mlseam.registry.memory import InMemoryRegistry
from mlseam.registry.protocol import Registry
from mlseam.registry.records import (
    Champion,
    ChampionEvent,
    ModelVersion,
    Status,
    latest_pending,
    version_name,
    version_number,
)

__all__ = [
    "Champion",
    "ChampionEvent",
    "DynamoRegistry",
    "InMemoryRegistry",
    "ModelVersion",
    "Registry",
    "Status",
    "create_registry_table",
    "latest_pending",
    "version_name",
    "version_number",
]
