"""Loads a service's bundled demo data as labelled examples (idempotent: stable external ids)."""

from __future__ import annotations

from itertools import islice

from mlseam.errors import ContractError, MlseamError
from mlseam.examples import LabelledExample
from mlseam.manifest import Service
from mlseam.stores import Stores


def seed_service(service: Service, stores: Stores, *, batch: int = 2000) -> tuple[int, int]:
    """Load ``service``'s demo examples; returns (examples offered, examples new).

    Each chunk is inserted in one transaction, and ids are stable, so a seed that fails part way
    can simply be run again once fixed.
    """
    seed = service.load_seed()
    where = f"{service.directory / str(service.manifest.seed).split(':')[0]} ({service.manifest.seed})"
    try:
        rows = (
            LabelledExample(input=value, label=label, external_id=f"seed:{i}")
            for i, (value, label) in enumerate(seed())
        )
        total = added = 0
        while chunk := list(islice(rows, batch)):
            added += stores.examples.add(service.name, service.task, chunk, source="seed")
            total += len(chunk)
    except MlseamError:
        raise
    except Exception as exc:
        raise ContractError(f"{where} raised {type(exc).__name__}: {exc}; it must yield (input, label) pairs") from exc
    return total, added
