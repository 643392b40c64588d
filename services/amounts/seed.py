"""Demo data: handwritten amounts of 3 to 8 digits composed from scikit-learn's bundled digits.

The recipe is in README.md; the strips are the same on every run (a fixed random seed).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from sklearn.datasets import load_digits

STRIPS = 2000
SEED = 20261128  # the same strips every time, so re-seeding adds nothing


def crop(image: np.ndarray) -> np.ndarray:
    """The image without its blank columns on the left and right."""
    inked = np.flatnonzero(image.sum(axis=0) > 0)
    return image[:, inked[0] : inked[-1] + 1]


def demo_examples() -> Iterator[tuple[list[list[float]], str]]:
    """Strips of 3 to 8 digit images, 0 to 2 blank columns apart, with the digits they show."""
    digits = load_digits()
    # Cropped, so that the gaps below are the only blank space between two digits.
    glyphs = [crop(image) for image in digits.images]
    rng = np.random.default_rng(SEED)
    for _ in range(STRIPS):
        chosen = rng.choice(len(glyphs), size=int(rng.integers(3, 9)))
        parts = [glyphs[chosen[0]]]
        for index in chosen[1:]:
            parts += [np.zeros((8, int(rng.integers(0, 3)))), glyphs[index]]
        yield np.hstack(parts).tolist(), "".join(str(digits.target[index]) for index in chosen)
