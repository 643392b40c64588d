"""Handwritten amounts: cut the strip into digits at blank columns, classify each digit, join them."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlseam

GLYPH_COLUMNS = 8
"""Every glyph is centred in (or squeezed into) this many columns before it is classified."""


def ink_runs(strip: np.ndarray, blank: float) -> list[tuple[int, int]]:
    """The [start, end) column ranges of consecutive inked columns; blank columns separate them."""
    inked = np.concatenate([[False], strip.max(axis=0) > blank, [False]])
    edges = np.flatnonzero(np.diff(inked.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def cut_glyphs(strip: np.ndarray, glyph_width: float, blank: float) -> list[tuple[int, int]]:
    """The [start, end) column range of each glyph, left to right.

    A run of ink about k glyphs wide (touching characters) is cut into k pieces, each cut at the
    faintest column within two columns of where an even split would put it.
    """
    ink = strip.sum(axis=0)
    glyphs: list[tuple[int, int]] = []
    for start, end in ink_runs(strip, blank):
        pieces = max(1, int((end - start) / glyph_width + 0.5))
        cuts = [start]
        for piece in range(1, pieces):
            even = start + piece * (end - start) / pieces
            low, high = max(cuts[-1] + 2, int(even) - 2), min(end - 2, int(even) + 2)
            cuts.append(round(even) if low > high else low + int(np.argmin(ink[low : high + 1])))
        cuts.append(end)
        glyphs += pairwise(cuts)
    return glyphs


def glyph_features(strip: np.ndarray, start: int, end: int) -> np.ndarray:
    """One glyph as GLYPH_COLUMNS columns of the strip's height, flattened, plus its width."""
    glyph = strip[:, start:end]
    width = end - start
    if width > GLYPH_COLUMNS:
        # squeezed: linear interpolation between the two nearest columns
        at = np.linspace(0, width - 1, GLYPH_COLUMNS)
        left = np.floor(at).astype(int)
        right = np.minimum(left + 1, width - 1)
        weight = at - left
        glyph = glyph[:, left] * (1 - weight) + glyph[:, right] * weight
        width = GLYPH_COLUMNS
    canvas = np.zeros((strip.shape[0], GLYPH_COLUMNS))
    offset = (GLYPH_COLUMNS - width) // 2
    canvas[:, offset : offset + width] = glyph
    return np.append(canvas.ravel(), end - start)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


class AmountsModel(mlseam.Model):
    """Reads the handwritten amount (a string of digits) in a strip cut from a scanned receipt."""

    task = "ocr"  # the same as `task:` in service.yaml
    primary_metric = "cer"  # the key of evaluate() that decides promotion: character error rate
    higher_is_better = False  # the primary metric's direction: an error rate, so lower is better
    min_improvement = 0.001  # a candidate must beat the champion by this much
    params = {"C": 0.5, "max_iter": 1000, "blank": 0.0}  # hyper-parameters, recorded with every version

    def __init__(self) -> None:
        self.blank = float(self.params["blank"])  # a column whose values are all at most this is blank
        self.glyph_width = float(GLYPH_COLUMNS)  # typical glyph width in columns, measured by fit
        self.pipeline = make_pipeline(
            StandardScaler(), LogisticRegression(C=self.params["C"], max_iter=self.params["max_iter"])
        )

    def fit(self, examples: mlseam.Examples) -> None:
        # inputs: a list of 2-D arrays (height x width), labels: the text each strip shows.
        strips, texts = examples.inputs, [str(text) for text in examples.labels]
        inked = [sum(end - start for start, end in ink_runs(strip, self.blank)) for strip in strips]
        widths = [ink / len(text) for ink, text in zip(inked, texts, strict=True)]
        self.glyph_width = max(1.0, float(np.median(widths))) if widths else float(GLYPH_COLUMNS)
        features, chars = [], []
        for strip, text in zip(strips, texts, strict=True):
            glyphs = cut_glyphs(strip, self.glyph_width, self.blank)
            if len(glyphs) != len(text):
                continue  # the cut disagrees with the label: its glyphs cannot be matched to characters
            features += [glyph_features(strip, start, end) for start, end in glyphs]
            chars += list(text)
        if not chars:
            raise ValueError(
                "no training strip could be cut into as many glyphs as its label has characters; "
                "check that blank columns hold values at most params['blank']"
            )
        self.pipeline.fit(np.stack(features), chars)

    def predict(self, inputs: list[np.ndarray]) -> list[str]:
        if not inputs:
            return []
        cuts = [cut_glyphs(strip, self.glyph_width, self.blank) for strip in inputs]
        features = [
            glyph_features(strip, start, end)
            for strip, glyphs in zip(inputs, cuts, strict=True)
            for start, end in glyphs
        ]
        chars = iter(self.pipeline.predict(np.stack(features)).tolist() if features else [])
        return ["".join(next(chars) for _ in glyphs) for glyphs in cuts]

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        truth = [str(text) for text in examples.labels]
        predicted = self.predict(examples.inputs)
        edits = sum(edit_distance(guess, text) for guess, text in zip(predicted, truth, strict=True))
        return {
            "cer": edits / max(1, sum(len(text) for text in truth)),  # edits per character of the labels
            "exact_match": float(np.mean([guess == text for guess, text in zip(predicted, truth, strict=True)])),
        }
