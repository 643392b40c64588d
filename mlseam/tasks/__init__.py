"""Task kinds: each owns its input and label types, their validation and its PostgreSQL table."""

from __future__ import annotations

from typing import Any

from mlseam.tasks.base import Examples, MatrixBounds, TaskKind
from mlseam.tasks.image import ImageClassification
from mlseam.tasks.ocr import Ocr
from mlseam.tasks.tabular import TabularRegression
from mlseam.tasks.tabular_classification import TabularClassification
from mlseam.tasks.text_detection import TextDetection

TASK_KINDS: dict[str, type[TaskKind[Any, Any]]] = {
    kind.name: kind for kind in (ImageClassification, TabularRegression, TabularClassification, Ocr, TextDetection)
}

__all__ = [
    "TASK_KINDS",
    "Examples",
    "ImageClassification",
    "MatrixBounds",
    "Ocr",
    "TabularClassification",
    "TabularRegression",
    "TaskKind",
    "TextDetection",
]
