"""Text lines on receipts: threshold, join glyphs by dilation, keep the blobs a classifier calls text."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.ensemble import RandomForestClassifier

import mlseam
from mlseam.tasks.boxes import detection_scores, iou

FEATURES = 8
"""Numbers describing one proposed box (see box_features)."""


def propose_boxes(image: np.ndarray, threshold: float, join: tuple[int, int]) -> list[tuple[slice, slice]]:
    """The tight (rows, columns) slices of each blob of ink, glyphs closer than ``join`` counted as one blob."""
    ink = image > threshold
    blobs, _ = ndimage.label(ndimage.binary_dilation(ink, structure=np.ones(join, dtype=bool)))
    # Labels kept on the inked pixels only, so each box hugs the ink rather than the dilated blob.
    return [found for found in ndimage.find_objects(blobs * ink) if found is not None]


def box_features(image: np.ndarray, found: tuple[slice, slice], threshold: float) -> np.ndarray:
    """Size, shape, ink density, ink strength and how many separate marks a proposed box holds."""
    patch = image[found]
    ink = patch > threshold
    height, width = patch.shape
    _, marks = ndimage.label(ink)
    return np.array(
        [
            height,
            width,
            width / height,
            ink.mean(),
            patch[ink].mean(),
            patch[ink].std(),
            marks,
            ink.any(axis=0).mean(),  # share of columns with ink: lines of digits leave gaps
        ]
    )


def as_box(found: tuple[slice, slice], score: float) -> dict[str, float]:
    """A proposal's slices as the box the API answers with."""
    rows, cols = found
    return {
        "x": cols.start,
        "y": rows.start,
        "width": cols.stop - cols.start,
        "height": rows.stop - rows.start,
        "score": score,
    }


class ReceiptsModel(mlseam.Model):
    """Finds the lines of handwritten digits on a scanned receipt, one box per line."""

    task = "text_detection"  # the same as `task:` in service.yaml
    primary_metric = "f1"  # boxes matched one-to-one at IoU >= 0.5; precision and recall beside it
    higher_is_better = True
    min_improvement = 0.001  # a candidate must beat the champion by this much
    params = {"threshold": 2.5, "join_rows": 3, "join_columns": 7, "trees": 100, "keep_above": 0.5}

    def __init__(self) -> None:
        self.threshold = float(self.params["threshold"])  # values above it are ink (the background stays below)
        self.join = (int(self.params["join_rows"]), int(self.params["join_columns"]))
        self.keep_above = float(self.params["keep_above"])  # a proposal scored above this is kept
        self.classifier = RandomForestClassifier(
            n_estimators=int(self.params["trees"]), min_samples_leaf=2, random_state=0, n_jobs=1
        )

    def proposals(self, image: np.ndarray) -> tuple[list[tuple[slice, slice]], np.ndarray]:
        """The proposed boxes of one image and their features (one row each)."""
        found = propose_boxes(image, self.threshold, self.join)
        features = [box_features(image, f, self.threshold) for f in found]
        return found, np.array(features).reshape(-1, FEATURES)

    def fit(self, examples: mlseam.Examples) -> None:
        # inputs: a list of 2-D arrays; labels: per image a list of {x, y, width, height} dicts.
        rows, targets = [], []
        for image, truth in zip(examples.inputs, examples.labels, strict=True):
            found, features = self.proposals(image)
            if not found:
                continue
            proposed = [as_box(f, 1.0) for f in found]
            # A proposal is text when it overlaps a true line enough to be matched to it.
            text = (iou(proposed, truth) >= 0.5).any(axis=1) if truth else np.zeros(len(found), dtype=bool)
            rows.append(features)
            targets.append(text)
        if not rows:
            raise ValueError("no training image has any ink above params['threshold']; lower it")
        self.classifier.fit(np.vstack(rows), np.concatenate(targets))

    def predict(self, inputs: list[np.ndarray]) -> list[list[dict[str, float]]]:
        if not inputs:
            return []
        per_image = [self.proposals(image) for image in inputs]
        features = np.vstack([f for _, f in per_image])
        scores = iter(self._text_probability(features).tolist())
        outputs = []
        for found, _ in per_image:
            boxes = [as_box(f, score) for f, score in zip(found, scores, strict=False)]
            outputs.append([box for box in boxes if box["score"] > self.keep_above])
        return outputs

    def _text_probability(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        classes = list(self.classifier.classes_)
        if True not in classes:
            return np.zeros(len(features))
        return self.classifier.predict_proba(features)[:, classes.index(True)]

    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]:
        return detection_scores(list(examples.labels), self.predict(examples.inputs))
