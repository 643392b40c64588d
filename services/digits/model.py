"""Handwritten digit recognition: multinomial logistic regression on the standardised 64 pixels."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlseam


class DigitsModel(mlseam.Model):
    """Predicts the digit shown in an 8x8 grayscale image (pixel values 0-16), with each digit's probability.

    Fitted with scikit-learn; the fitted scaler and regression are then folded into one weight
    matrix, so a prediction is a single matrix product with no per-call library overhead.
    """

    task = "image_classification"
    primary_metric = "macro_f1"
    higher_is_better = True
    min_improvement = 0.001
    params = {"C": 0.5, "max_iter": 2000}

    def __init__(self) -> None:
        self.classes = np.empty(0, dtype=object)
        self.weights = np.empty((64, 0))
        self.bias = np.empty(0)

    @staticmethod
    def _matrix(images: list[np.ndarray]) -> np.ndarray:
        return np.stack([image.ravel() for image in images]) if images else np.empty((0, 64))

    def fit(self, examples: mlseam.Examples) -> None:
        scaler = StandardScaler()
        regression = LogisticRegression(C=0.5, max_iter=2000)
        make_pipeline(scaler, regression).fit(self._matrix(examples.inputs), examples.labels.astype(str))
        # (x - mean) / scale @ coef.T + intercept  ==  x @ weights + bias
        self.weights = (regression.coef_ / scaler.scale_).T
        self.bias = regression.intercept_ - (scaler.mean_ / scaler.scale_) @ regression.coef_.T
        self.classes = regression.classes_.astype(str)

    def _scores(self, inputs: list[np.ndarray]) -> np.ndarray:
        return self._matrix(inputs) @ self.weights + self.bias

    def predict(self, inputs: list[np.ndarray]) -> list[str]:
        if not inputs:
            return []
        return self.classes[self._scores(inputs).argmax(axis=1)].tolist()

    def predict_proba(self, inputs: list[np.ndarray]) -> np.ndarray:
        """Columns follow `self.classes`."""
        scores = self._scores(inputs)
        scores -= scores.max(axis=1, keepdims=True) if len(scores) else 0.0
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        truth = examples.labels.astype(str)
        predicted = np.asarray(self.predict(examples.inputs))
        return {
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
            "accuracy": float(accuracy_score(truth, predicted)),
        }
