"""The stable holdout split: an example's side depends only on its id and the service name."""

from __future__ import annotations

import hashlib

import numpy as np


def _splitmix64(x: np.ndarray) -> np.ndarray:
    # A fixed, well-mixed integer hash: deterministic across processes, machines and numpy
    # versions (unlike Python's hash()), and vectorised, so 1M ids split in milliseconds.
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    mixed: np.ndarray = x ^ (x >> np.uint64(31))
    return mixed


def holdout_mask(ids: np.ndarray, service: str, fraction: float) -> np.ndarray:
    """True where the example with that id belongs to the holdout of ``service``.

    Adding examples never moves an existing one between train and holdout.
    """
    salt = np.uint64(int.from_bytes(hashlib.blake2b(service.encode(), digest_size=8).digest(), "big"))
    with np.errstate(over="ignore"):
        mixed = _splitmix64(np.asarray(ids, dtype=np.int64).view(np.uint64) ^ salt)
    uniform = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return uniform < fraction


def holdout_digest(ids: np.ndarray) -> str:
    """A sha256 over the sorted holdout ids: equal digests mean the very same holdout rows."""
    ordered = np.sort(np.asarray(ids, dtype="<i8"))
    return hashlib.sha256(ordered.tobytes()).hexdigest()
