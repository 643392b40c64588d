"""The binary COPY reader's in-place removal of malformed rows."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mlseam.examples.matrix import _compact


@given(st.lists(st.booleans(), max_size=300), st.integers(min_value=1, max_value=50))
def test_compacting_in_place_equals_boolean_indexing(mask: list[bool], chunk_rows: int) -> None:
    valid = np.array(mask, dtype=bool)
    ids = np.arange(valid.size, dtype=np.int64)
    matrix = np.arange(valid.size * 3, dtype=np.float64).reshape(-1, 3)
    labels = ids * 0.5
    expected = ids[valid], matrix[valid], labels[valid]

    kept = _compact(valid, ids, matrix, labels, chunk_rows=chunk_rows)

    assert kept == int(valid.sum())
    for array, want in zip((ids, matrix, labels), expected, strict=True):
        np.testing.assert_array_equal(array[:kept], want)
