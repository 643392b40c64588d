"""Demo data: scikit-learn's bundled wine data set (178 wines of three cultivars, 13 measurements)."""

from __future__ import annotations

from collections.abc import Iterator

from sklearn.datasets import load_wine


def _feature_name(name: str) -> str:
    # load_wine calls one measurement "od280/od315_of_diluted_wines"; feature names are identifiers.
    return name.replace("/", "_")


def demo_examples() -> Iterator[tuple[dict[str, float], str]]:
    """Every bundled wine as (measurements by name, cultivar "0", "1" or "2")."""
    data = load_wine()
    names = [_feature_name(name) for name in data.feature_names]
    for row, cultivar in zip(data.data, data.target, strict=True):
        yield dict(zip(names, (float(value) for value in row), strict=True)), str(cultivar)
