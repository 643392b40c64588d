"""The batch store sits in the stores layer and the batch jobs below HTTP: their imports say so."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlseam
import mlseam.batchstore

PACKAGE = Path(mlseam.__file__).parent


def _imports(folder: str) -> set[str]:
    names: set[str] = set()
    for path in (PACKAGE / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("folder", "above"),
    [
        ("batchstore", ("mlseam.batches", "mlseam.serving", "mlseam.runtime", "mlseam.training")),
        ("batches", ("mlseam.serving", "mlseam.training", "mlseam.cli", "mlseam.local")),
    ],
)
def test_a_layer_imports_nothing_above_it(folder: str, above: tuple[str, ...]) -> None:
    offending = sorted(name for name in _imports(folder) if name.startswith(above))
    assert offending == [], f"mlseam/{folder} imports from a higher layer"


def test_the_batch_store_exports_exactly_what_it_names() -> None:
    public = {name for name in dir(mlseam.batchstore) if not name.startswith("_")}
    modules = {"calls", "queue", "records", "resources", "store"}
    assert public - modules == set(mlseam.batchstore.__all__)
