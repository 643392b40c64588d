"""Wine cultivar: multinomial logistic regression on the 13 standardised measurements."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlseam


class WineModel(mlseam.Model):
    """Predicts which of three cultivars a wine comes from, with each cultivar's probability."""

    task = "tabular_classification"
    primary_metric = "macro_f1"
    higher_is_better = True
    min_improvement = 0.001
    params = {"C": 1.0, "max_iter": 1000}

    def __init__(self) -> None:
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(**self.params))

    @property
    def classes(self) -> list[str]:
        """The cultivars, in the column order of ``predict_proba``."""
        return [str(label) for label in self.pipeline.classes_]

    def fit(self, examples: mlseam.Examples) -> None:
        self.pipeline.fit(examples.inputs, examples.labels.astype(str))

    def predict(self, inputs: np.ndarray) -> list[str]:
        if len(inputs) == 0:
            return []
        return [str(label) for label in self.pipeline.predict(inputs)]

    def predict_proba(self, inputs: np.ndarray) -> np.ndarray:
        if len(inputs) == 0:
            return np.empty((0, len(self.classes)))
        return self.pipeline.predict_proba(inputs)

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        truth = examples.labels.astype(str)
        predicted = np.asarray(self.predict(examples.inputs))
        return {
            "macro_f1": float(f1_score(truth, predicted, average="macro")),
            "accuracy": float(accuracy_score(truth, predicted)),
        }
