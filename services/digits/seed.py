"""Demo data: scikit-learn's bundled 1,797 handwritten digits (8x8, pixels 0-16)."""

from __future__ import annotations

from collections.abc import Iterator

from sklearn.datasets import load_digits


def demo_examples() -> Iterator[tuple[list[list[float]], str]]:
    """Every bundled digit image with its label, as (input, label)."""
    digits = load_digits()
    for image, target in zip(digits.images, digits.target, strict=True):
        yield image.tolist(), str(target)
