"""The docs are true: the model classes they show work, and the README names every module, layer and setting."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mlseam
from mlseam.contract import validate_model_class
from mlseam.settings import REPO_ROOT, Settings

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PACKAGE = Path(mlseam.__file__).parent
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _model_classes(path: Path) -> list[type[mlseam.Model]]:
    found = []
    for block in PYTHON_BLOCK.findall(path.read_text(encoding="utf-8")):
        if "(mlseam.Model)" not in block:
            continue
        namespace: dict[str, Any] = {}
        exec(compile(block, str(path), "exec"), namespace)  # noqa: S102 - our own documentation
        found += [v for v in namespace.values() if isinstance(v, type) and issubclass(v, mlseam.Model)]
    return [cls for cls in found if cls is not mlseam.Model]


@pytest.mark.parametrize("doc", ["README.md", "docs/ml-authors.md"])
def test_the_documented_digits_model_honours_the_contract(doc: str) -> None:
    classes = _model_classes(REPO_ROOT / doc)
    assert classes, f"{doc} shows no mlseam.Model subclass"
    data = load_digits()
    images = [image.astype(float) for image in data.images[:600]]
    labels = data.target[:600].astype(str)
    for cls in classes:
        model = validate_model_class(cls, where=f"{doc}:{cls.__name__}", task="image_classification")()
        examples = mlseam.Examples(ids=np.arange(len(images)), inputs=images, labels=labels)
        model.fit(examples)
        assert len(model.predict([])) == 0
        assert [str(label) for label in model.predict(images[:3])] == ["0", "1", "2"]
        metrics = model.evaluate(examples)
        assert metrics[cls.primary_metric] > 0.9


def _readme_block(after: str) -> str:
    """The first fenced block of the README after the line ``after``."""
    found = re.search(re.escape(after) + r".*?```\n(.*?)```", README, re.DOTALL)
    assert found, f"README.md has no code block after {after!r}"
    return found.group(1)


def test_the_readme_tree_names_every_top_level_module_of_the_package() -> None:
    tree = _readme_block("## The repository")
    listed = set(re.findall(r"^  (\w+(?:\.py|/))\s", tree.split("\nmlseam/", 1)[1], flags=re.MULTILINE))
    modules = {
        f"{path.name}/" if path.is_dir() else path.name
        for path in PACKAGE.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py") or (path / "__init__.py").exists()
    }
    assert sorted(modules - listed) == [], "add each to the mlseam/ part of the README tree, saying what it is for"


def test_the_readme_draws_the_layers_the_import_contract_enforces() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    enforced = [layer.replace("(", "").replace(")", "") for layer in contract["layers"]]
    drawn = [re.split(r"\s{2,}", line)[0] for line in _readme_block("### Layers").splitlines()]
    assert drawn == enforced


def test_the_readme_lists_every_setting() -> None:
    missing = [f"MLSEAM_{name.upper()}" for name in Settings.model_fields if f"`MLSEAM_{name.upper()}`" not in README]
    assert missing == [], "add each to a settings table of the README: default and what it sets"
