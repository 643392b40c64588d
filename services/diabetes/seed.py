"""Demo data: scikit-learn's bundled diabetes data set (442 patients, 10 scaled features)."""

from __future__ import annotations

from collections.abc import Iterator

from sklearn.datasets import load_diabetes


def demo_examples() -> Iterator[tuple[dict[str, float], float]]:
    """Every bundled patient as (features, progression one year later)."""
    data = load_diabetes()
    for row, target in zip(data.data, data.target, strict=True):
        yield dict(zip(data.feature_names, (float(v) for v in row), strict=True)), float(target)
