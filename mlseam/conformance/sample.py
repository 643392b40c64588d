"""A small sample of a service's demo data, stored and read back as the retrain job reads it, then split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlseam.conformance.outcome import RuleFailure, summarise_exception
from mlseam.errors import InvalidInputError, QualityGateError
from mlseam.examples import InMemoryExamplesStore, LabelledExample
from mlseam.manifest import Service
from mlseam.tasks import Examples
from mlseam.training import gates
from mlseam.training.split import holdout_mask

SAMPLE_SIZE = 240
"""Demo examples drawn for a check: enough to fit and score a model, few enough to be quick."""


@dataclass(frozen=True)
class Sample:
    """Train and holdout sides of the sample, as ``fit`` and ``evaluate`` receive them."""

    train: Examples[Any]
    holdout: Examples[Any]
    holdout_json: list[Any]
    """The holdout inputs as stored JSON (what a client sends), in holdout order."""
    holdout_inputs: list[Any]
    """The same inputs validated one by one, as the API hands them to ``task.to_batch``."""
    seed_rows: int
    """How many examples the whole seed yields (the sample is drawn from them)."""


def draw_sample(service: Service, size: int = SAMPLE_SIZE) -> Sample:
    """Up to ``size`` demo examples spread over the seed data, through the in-memory examples
    store (same validation and read-back as PostgreSQL) and the retrain job's holdout split."""
    reference = service.manifest.seed
    if reference is None:
        raise RuleFailure(
            "service.yaml sets no seed:, so there is no data to fit on; add a seed.py whose demo_examples() "
            "yields (input, label) pairs and declare `seed: seed.py:demo_examples`"
        )
    try:
        rows = list(service.load_seed()())
    except Exception as exc:
        raise RuleFailure(
            f"the seed {reference} raised {summarise_exception(exc, service.directory)}; "
            "it must yield (input, label) pairs"
        ) from exc
    # Spread over the whole seed: demo data is often sorted by label.
    picked = np.unique(np.linspace(0, len(rows) - 1, num=min(len(rows), size)).round().astype(int)).tolist()
    try:
        examples = [LabelledExample(input=rows[i][0], label=rows[i][1], external_id=f"seed:{i}") for i in picked]
    except (TypeError, IndexError, KeyError) as exc:
        raise RuleFailure(f"the seed {reference} must yield (input, label) pairs ({exc})") from exc
    store = InMemoryExamplesStore()
    try:
        store.add(service.name, service.kind, examples, source="seed")
    except InvalidInputError as exc:
        where = f"demo example {picked[exc.index]}" if exc.index is not None else "a demo example"
        raise RuleFailure(
            f"{where} is refused by the task kind {service.kind.name}: {exc}; make {reference} yield inputs "
            "and labels that service.yaml's task and inputs: accept"
        ) from exc
    data = store.read(service.name, service.kind).examples
    mask = holdout_mask(data.ids, service.name, service.manifest.holdout_fraction)
    train, holdout = data.subset(~mask), data.subset(mask)
    try:
        gates.check_both_sides(len(train), len(holdout))
        if service.kind.needs_label_variety:
            gates.check_label_variety(train.labels)
    except QualityGateError as exc:
        raise RuleFailure(f"a sample of {len(data)} demo examples is not enough: {exc}") from exc
    stored = {row.id: row.input for row in store.rows[service.name]}
    holdout_json = [stored[int(i)] for i in holdout.ids]
    holdout_inputs = [service.kind.validate_input(value, index=i) for i, value in enumerate(holdout_json)]
    return Sample(
        train=train, holdout=holdout, holdout_json=holdout_json, holdout_inputs=holdout_inputs, seed_rows=len(rows)
    )
