"""Demo data: receipt-like scans holding a few lines of handwritten digits, labelled with a box per line.

The recipe is in README.md; the images are the same on every run (a fixed random seed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

IMAGES = 1000
SEED = 20261203  # the same images every time, so re-seeding adds nothing
MARGIN = 4
DUST = 0.004
"""Share of the background's pixels that are specks of dust."""
"""Blank pixels kept around every line and every smudge, so that no two of them touch."""


def crop(image: np.ndarray) -> np.ndarray:
    """The image without its blank columns on the left and right."""
    inked = np.flatnonzero(image.sum(axis=0) > 0)
    return image[:, inked[0] : inked[-1] + 1]


def digit_line(glyphs: list[np.ndarray], digits: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """2 to 6 digit images side by side, 0 to 2 blank columns apart (8 rows high), and the digits shown."""
    chosen = rng.choice(len(glyphs), size=int(rng.integers(2, 7)))
    parts = [glyphs[chosen[0]]]
    for index in chosen[1:]:
        parts += [np.zeros((8, int(rng.integers(0, 3)))), glyphs[index]]
    return np.hstack(parts), "".join(str(digits[index]) for index in chosen)


def smudge(rng: np.random.Generator) -> np.ndarray:
    """Something inked that is not text: a speck, a printed rule, a short stroke or a round stamp."""
    kind = int(rng.integers(4))
    if kind == 3:
        size = int(rng.integers(5, 11))
        rows, cols = np.ogrid[:size, :size]
        disc = (rows - (size - 1) / 2) ** 2 + (cols - (size - 1) / 2) ** 2 <= (size / 2) ** 2
        return disc * rng.integers(6, 17, size=(size, size)).astype(np.float64)
    shape = [
        (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
        (1, int(rng.integers(12, 40))),
        (int(rng.integers(5, 12)), 1),
    ][kind]
    return rng.integers(8, 17, size=shape).astype(np.float64)


def place(free: np.ndarray, patch: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """A random top-left corner where ``patch`` and its margin cover only free pixels (None: no room)."""
    height, width = patch.shape
    rows, cols = free.shape
    for _ in range(30):
        y, x = int(rng.integers(0, rows - height + 1)), int(rng.integers(0, cols - width + 1))
        top, left = max(0, y - MARGIN), max(0, x - MARGIN)
        if free[top : y + height + MARGIN, left : x + width + MARGIN].all():
            free[top : y + height + MARGIN, left : x + width + MARGIN] = False
            return y, x
    return None


def receipt(
    glyphs: list[np.ndarray], digits: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict[str, int]], list[str]]:
    """One noisy scan with 1 to 3 lines of digits and 0 to 4 smudges; the box and the digits of each line."""
    image = rng.integers(0, 3, size=(int(rng.integers(48, 65)), int(rng.integers(64, 97)))).astype(np.float64)
    # Dust: a few scattered pixels as dark as faint ink, which may land next to the text too.
    dust = rng.random(image.shape) < DUST
    image[dust] = rng.integers(3, 9, size=int(dust.sum()))
    free = np.ones(image.shape, dtype=bool)
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        line, text = digit_line(glyphs, digits, rng)
        line = line * rng.uniform(0.5, 1.0)  # pens and scans vary in contrast
        corner = place(free, line, rng)
        if corner is not None:
            y, x = corner
            image[y : y + 8, x : x + line.shape[1]] = np.maximum(image[y : y + 8, x : x + line.shape[1]], line)
            lines.append(({"x": x, "y": y, "width": int(line.shape[1]), "height": 8}, text))
    for _ in range(int(rng.integers(0, 5))):
        patch = smudge(rng)
        corner = place(free, patch, rng)
        if corner is not None:
            y, x = corner
            image[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    lines.sort(key=lambda line: (line[0]["y"], line[0]["x"]))
    return image, [box for box, _ in lines], [text for _, text in lines]


def demo_receipts() -> Iterator[tuple[list[list[int]], list[dict[str, int]], list[str]]]:
    """Receipt-like images (48 to 64 rows, 64 to 96 columns, values 0 to 16), their line boxes
    (top to bottom) and the digits each line shows."""
    digits = load_digits()
    glyphs = [crop(image) for image in digits.images]
    rng = np.random.default_rng(SEED)
    for _ in range(IMAGES):
        image, boxes, texts = receipt(glyphs, digits.target, rng)
        yield image.astype(int).tolist(), boxes, texts


def demo_examples() -> Iterator[tuple[list[list[int]], list[dict[str, Any]]]]:
    """The demo receipts labelled with their line boxes."""
    for image, boxes, _ in demo_receipts():
        yield image, boxes
