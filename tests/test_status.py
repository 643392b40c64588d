"""The manager's tables, rendered as a terminal of a given width shows them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from builders import linear_examples, linear_service
from mlseam.artifacts import InMemoryArtifactStore
from mlseam.examples import InMemoryExamplesStore
from mlseam.manifest import Service, load_service
from mlseam.registry import InMemoryRegistry
from mlseam.status import champion_moves_table, history_table
from mlseam.stores import Stores
from mlseam.training import Retrainer, promote, rollback


def _history(services_dir: Path) -> tuple[Service, Stores]:
    service = load_service(linear_service(services_dir), services_dir)
    stores = Stores(examples=InMemoryExamplesStore(), registry=InMemoryRegistry(), artifacts=InMemoryArtifactStore())
    for seed in (1, 2):
        stores.examples.add(service.name, service.kind, linear_examples(100, seed=seed), source="t")
        Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()
    if stores.registry.get_champion(service.name).version == "v1":  # type: ignore[union-attr]
        promote(stores.registry, stores.artifacts, service.name, "v2", actor="ana@laptop")
    rollback(stores.registry, stores.artifacts, service.name, reason="bad release", actor="ana@laptop")
    return service, stores


def _render(table: object, width: int) -> str:
    console = Console(width=width, file=io.StringIO())
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_history_is_readable_at_any_common_terminal_width(services_dir: Path, width: int) -> None:
    service, stores = _history(services_dir)
    text = _render(history_table(service, stores, width=width), width)
    moves = _render(champion_moves_table(service, stores), width)

    assert "…" not in text + moves  # nothing is cut off
    assert max(len(line) for line in (text + moves).splitlines()) <= width
    words = " ".join(text.split())
    assert "v1 *" in words and "v2" in words and "(rolled back)" in words
    assert ("train/holdout" in words and "watermark" in words) == (width >= 120)
    reasons = " ".join(moves.split())
    assert "ana@laptop" in reasons and "bad release (from v2)" in reasons
