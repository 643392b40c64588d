"""Handwritten digit recognition: multinomial logistic regression on the standardised 64 pixels."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlseam


class DigitsModel(mlseam.Model):
    """Predicts the digit shown in an 8x8 grayscale image (pixel values 0-16), with each digit's probability."""

    task = "image_classification"
    primary_metric = "macro_f1"
    higher_is_better = True
    min_improvement = 0.001
    params = {"C": 0.5, "max_iter": 2000}

    def __init__(self) -> None:
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(**self.params))

    @property
    def classes(self) -> list[str]:
        """The digits, in the column order of ``predict_proba``."""
        return [str(label) for label in self.pipeline.classes_]

    @staticmethod
    def _matrix(images: list[np.ndarray]) -> np.ndarray:
        return np.stack([image.ravel() for image in images]) if images else np.empty((0, 64))

    def fit(self, examples: mlseam.Examples) -> None:
        self.pipeline.fit(self._matrix(examples.inputs), examples.labels.astype(str))

    def predict(self, inputs: list[np.ndarray]) -> list[str]:
        if not inputs:
            return []
        return [str(label) for label in self.pipeline.predict(self._matrix(inputs))]

    def predict_proba(self, inputs: list[np.ndarray]) -> np.ndarray:
        if not inputs:
            return np.empty((0, len(self.classes)))
        return self.pipeline.predict_proba(self._matrix(inputs))

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        truth = examples.labels.astype(str)
        predicted = np.asarray(self.predict(examples.inputs))
        return {
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
            "accuracy": float(accuracy_score(truth, predicted)),
        }
