"""Labelled examples in PostgreSQL: the store, its schema migrations and a fake for unit tests."""

from mlseam.examples.memory import InMemoryExamplesStore
from mlseam.examples.migrate import migrate
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
    "migrate",
]
