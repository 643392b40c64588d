"""Reading the digits on a receipt: its boxes from /receipts/v1/predict, cropped into strips for /amounts/v1/predict.

Run against a served stack (`make run`): ``python services/receipts/to_amounts.py [base_url] [count]``.
"""

from __future__ import annotations

import sys
from itertools import islice
from typing import Any

import httpx
import numpy as np
from scipy import ndimage

STRIP_ROWS = 8
"""The height of an amounts strip."""
INK = 2.5
"""Values at most this are background (the scans' noise); amounts wants exactly 0 there."""
MIN_MARK = 3
"""Fewer touching inked pixels than this are dust, not part of a digit."""


def amount_strip(image: np.ndarray, box: dict[str, Any]) -> list[list[float]]:
    """The box cut from the image as an amounts strip: 8 rows, background 0, ink scaled to reach 16.

    A box shorter or taller than 8 rows is widened or cut to the 8-row window holding the most ink.
    """
    x, y, width, height = box["x"], box["y"], box["width"], box["height"]
    ink = image[:, x : x + width] > INK
    # Dust is single specks: ink is what has inked neighbours.
    blobs, _ = ndimage.label(ink, structure=np.ones((3, 3)))
    sizes = np.bincount(blobs.ravel())
    columns = np.where(ink & (sizes[blobs] >= MIN_MARK) & (blobs > 0), image[:, x : x + width], 0.0)
    if columns.shape[0] < STRIP_ROWS:
        columns = np.vstack([columns, np.zeros((STRIP_ROWS - columns.shape[0], width))])
    first, last = sorted((y, y + height - STRIP_ROWS))
    starts = {min(max(start, 0), columns.shape[0] - STRIP_ROWS) for start in range(first, last + 1)}
    top = max(sorted(starts), key=lambda start: columns[start : start + STRIP_ROWS].sum())
    strip = columns[top : top + STRIP_ROWS]
    inked = np.flatnonzero(strip.max(axis=0) > 0)
    if len(inked):
        strip = strip[:, inked[0] : inked[-1] + 1]
    peak = strip.max()
    return np.round(strip * (16.0 / peak if peak > 0 else 1.0), 3).tolist()


def read_receipts(
    client: httpx.Client, images: list[list[list[float]]], *, detector: str = "receipts", reader: str = "amounts"
) -> list[list[str]]:
    """Per image, the digits of each line of text the ``detector`` service finds in it, top to bottom,
    as the ``reader`` service reads them."""
    found = client.post(f"/{detector}/v1/predict", json={"inputs": images})
    found.raise_for_status()
    boxes = [sorted(output["boxes"], key=lambda box: (box["y"], box["x"])) for output in found.json()["outputs"]]
    strips = [
        amount_strip(np.asarray(image), box)
        for image, image_boxes in zip(images, boxes, strict=True)
        for box in image_boxes
    ]
    if not strips:
        return [[] for _ in images]
    read = client.post(f"/{reader}/v1/predict", json={"inputs": strips})
    read.raise_for_status()
    texts = iter(output["text"] for output in read.json()["outputs"])
    return [[next(texts) for _ in image_boxes] for image_boxes in boxes]


def main(base_url: str = "http://127.0.0.1:8000", count: int = 5) -> None:
    from seed import demo_receipts

    receipts = list(islice(demo_receipts(), count))
    with httpx.Client(base_url=base_url, timeout=30) as client:
        readings = read_receipts(client, [image for image, _, _ in receipts])
    for (_, _, written), read in zip(receipts, readings, strict=True):
        print(f"written {written}  read {read}")


if __name__ == "__main__":
    main(*sys.argv[1:2], *[int(arg) for arg in sys.argv[2:3]])
