"""Labelled examples in PostgreSQL: the store and a fake for unit tests.

Schema migrations live in ``mlseam.examples.migrate`` (imported on demand: Alembic is heavy).
"""

from mlseam.examples.memory import InMemoryExamplesStore
from mlseam.examples.records import (
    Action,
    ExamplesStore,
    ExampleStats,
    LabelledExample,
    QuarantineEvent,
    ReadResult,
    Selection,
    Stored,
    StoredExample,
    content_id,
)
from mlseam.examples.store import PostgresExamplesStore

__all__ = [
    "Action",
    "ExampleStats",
    "ExamplesStore",
    "InMemoryExamplesStore",
    "LabelledExample",
    "PostgresExamplesStore",
    "QuarantineEvent",
    "ReadResult",
    "Selection",
    "Stored",
    "StoredExample",
    "content_id",
]
