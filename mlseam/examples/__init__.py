"""Labelled examples in PostgreSQL: the store and a fake for unit tests.

Schema migrations live in ``mlseam.examples.migrate`` (imported on demand: Alembic is heavy).
"""

from mlseam.examples.memory import InMemoryExamplesStore
from mlseam.examples.store import (
    ExamplesStore,
    ExampleStats,
    LabelledExample,
    PostgresExamplesStore,
    ReadResult,
    content_id,
)

__all__ = [
    "ExampleStats",
    "ExamplesStore",
    "InMemoryExamplesStore",
    "LabelledExample",
    "PostgresExamplesStore",
    "ReadResult",
    "content_id",
]
