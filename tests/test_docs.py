"""The model classes the README and the ML authors' guide show are real: they load, fit and predict."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits

import mlseam
from mlseam.contract import validate_model_class
from mlseam.settings import REPO_ROOT

PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


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
