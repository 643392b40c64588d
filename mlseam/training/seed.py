"""Loads a service's bundled demo data as labelled examples (idempotent: stable external ids)."""

from __future__ import annotations

from itertools import islice

from mlseam.examples import LabelledExample
from mlseam.manifest import Service
from mlseam.stores import Stores


def seed_service(service: Service, stores: Stores, *, batch: int = 2000) -> tuple[int, int]:
    """Load ``service``'s demo examples; returns (examples offered, examples new)."""
    rows = (
        LabelledExample(input=value, label=label, external_id=f"seed:{i}")
        for i, (value, label) in enumerate(service.load_seed()())
    )
    total = added = 0
    while chunk := list(islice(rows, batch)):
        added += stores.examples.add(service.name, service.task, chunk, source="seed")
        total += len(chunk)
    return total, added
