"""Loads a service's bundled demo data as labelled examples (idempotent: stable external ids)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from mlseam.errors import ContractError
from mlseam.examples import LabelledExample
from mlseam.manifest import Service
from mlseam.stores import Stores


def seed_service(service: Service, stores: Stores, *, batch: int = 2000) -> tuple[int, int]:
    """Load ``service``'s demo examples; returns (examples offered, examples new).

    Each chunk is inserted in one transaction, and ids are stable, so a seed that fails part way
    can simply be run again once fixed.
    """
    rows = _seed_rows(service)
    total = added = 0
    while chunk := list(islice(rows, batch)):
        added += stores.examples.add(service.name, service.kind, chunk, source="seed").new
        total += len(chunk)
    return total, added


def _seed_rows(service: Service) -> Iterator[LabelledExample]:
    """The seed function's (input, label) pairs as examples; whatever it raises becomes one ContractError."""
    seed = service.load_seed()
    try:
        for i, (value, label) in enumerate(seed()):
            yield LabelledExample(input=value, label=label, external_id=f"seed:{i}")
    except Exception as exc:
        reference = str(service.manifest.seed)
        where = f"{service.directory / reference.partition(':')[0]} ({reference})"
        raise ContractError(f"{where} raised {type(exc).__name__}: {exc}; it must yield (input, label) pairs") from exc
