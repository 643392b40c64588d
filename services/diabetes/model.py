"""Diabetes progression: ridge regression with a cross-validated penalty."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlseam


class DiabetesModel(mlseam.Model):
    """Predicts a quantitative measure of disease progression one year after baseline."""

    task = "tabular_regression"
    primary_metric = "rmse"
    higher_is_better = False
    min_improvement = 0.01
    params = {"alphas": [0.01, 0.1, 1.0, 10.0, 100.0]}

    def __init__(self) -> None:
        self.pipeline = make_pipeline(StandardScaler(), RidgeCV(**self.params))

    def fit(self, examples: mlseam.Examples) -> None:
        self.pipeline.fit(examples.inputs, examples.labels)

    def predict(self, inputs: np.ndarray) -> list[float]:
        if len(inputs) == 0:
            return []
        return [float(value) for value in self.pipeline.predict(inputs)]

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        predicted = np.asarray(self.predict(examples.inputs))
        return {
            "rmse": float(np.sqrt(mean_squared_error(examples.labels, predicted))),
            "mae": float(mean_absolute_error(examples.labels, predicted)),
            "r2": float(r2_score(examples.labels, predicted)),
        }
