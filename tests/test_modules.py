"""House rules every module of the package keeps."""

from __future__ import annotations

import ast
from pathlib import Path

import mlseam

PACKAGE = Path(mlseam.__file__).parent


def test_every_module_opens_with_a_docstring() -> None:
    undocumented = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert undocumented == [], "each needs a one-line docstring saying what it is for"
