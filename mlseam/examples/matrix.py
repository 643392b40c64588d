"""Parses PostgreSQL's binary COPY of (id, float8[] features, float8 label) rows into numpy arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlseam.tasks import MatrixBounds

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = len(_SIGNATURE) + 8  # flags (int32) + header extension length (int32)
_TRAILER = b"\xff\xff"
_FLUSH_BYTES = 4 << 20


def label_sql(classes: list[str] | None) -> str:
    """The float8 SQL expression of a row's label: the number itself, or for text labels the index
    of the label in ``classes`` (bound as the query's first parameter), -1 for any other text.

    Text labels become numbers in the COPY so that every row keeps one fixed size; -1 lies outside
    the label range a classifying task kind declares, so such a row is skipped as malformed.
    """
    return "label::float8" if classes is None else "coalesce(array_position(%s::text[], label) - 1, -1)::float8"


def decode_labels(codes: np.ndarray, classes: list[str] | None) -> np.ndarray:
    """The labels of valid rows read with ``label_sql(classes)``: numbers as they are, indices as text."""
    if classes is None:
        return codes
    return np.asarray(classes, dtype=object)[codes.astype(np.intp)]


class BinaryMatrixReader:
    """A file-like sink for ``copy_expert`` that fills preallocated arrays as bytes arrive.

    No value is NULL (malformed values are NaN) and every features array has the same
    length, so each row has a fixed size and a whole buffer of rows parses with one
    ``numpy.frombuffer``. Rows with a NaN or infinite value, or a value outside ``bounds``
    (the ranges the task kind declares today), are dropped at the end and counted as malformed.
    """

    def __init__(
        self,
        *,
        rows: int,
        features: int,
        bounds: MatrixBounds | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        fields: list[tuple[str, str]] = [("count", ">i2"), ("id_len", ">i4"), ("id", ">i8")]
        # A one-dimensional array: its byte length, then ndim, has-nulls flag, element type,
        # length and lower bound, then each element as (length, value).
        fields += [("array_len", ">i4"), ("ndim", ">i4"), ("has_nulls", ">i4"), ("element", ">i4")]
        fields += [("dim", ">i4"), ("lower", ">i4")]
        for column in range(features):
            fields += [(f"len{column}", ">i4"), (f"v{column}", ">f8")]
        fields += [("label_len", ">i4"), ("label", ">f8")]
        self._dtype = np.dtype(fields)
        self._features = features
        self._ids = np.empty(rows, dtype=np.int64)
        self._matrix = np.empty((rows, features), dtype=np.float64)
        self._labels = np.empty(rows, dtype=np.float64)
        self._filled = 0
        self._buffer = bytearray()
        self._header_seen = False
        self._bounds = bounds
        self._progress = progress

    def write(self, data: bytes | memoryview) -> int:
        """Accept a chunk of the COPY stream."""
        self._buffer += data
        if len(self._buffer) >= _FLUSH_BYTES:
            self._parse()
        return len(data)

    def _parse(self) -> None:
        if not self._header_seen:
            if len(self._buffer) < _HEADER:
                return
            if not self._buffer.startswith(_SIGNATURE):
                raise ValueError("not a PostgreSQL binary COPY stream")
            extension = int.from_bytes(self._buffer[_HEADER - 4 : _HEADER], "big")
            del self._buffer[: _HEADER + extension]
            self._header_seen = True
        complete = len(self._buffer) // self._dtype.itemsize
        complete = min(complete, self._ids.shape[0] - self._filled)
        if complete == 0:
            return
        parsed = np.frombuffer(self._buffer, dtype=self._dtype, count=complete)
        if not (np.all(parsed["ndim"] == 1) and np.all(parsed["dim"] == self._features)):
            raise ValueError(f"binary COPY rows are not {self._features}-element feature arrays")
        end = self._filled + complete
        self._ids[self._filled : end] = parsed["id"]
        for column in range(self._features):
            self._matrix[self._filled : end, column] = parsed[f"v{column}"]
        self._labels[self._filled : end] = parsed["label"]
        self._filled = end
        del parsed
        del self._buffer[: complete * self._dtype.itemsize]
        if self._progress is not None:
            self._progress(self._filled)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(ids, feature matrix, labels, malformed count) once the COPY has ended."""
        self._parse()
        if bytes(self._buffer) not in (b"", _TRAILER):
            raise ValueError(f"binary COPY ended with {len(self._buffer)} unparsed bytes")
        if self._filled != self._ids.shape[0]:
            raise ValueError(f"binary COPY returned {self._filled} rows, expected {self._ids.shape[0]}")
        if self._bounds is None:
            valid = np.isfinite(self._labels) & np.isfinite(self._matrix).all(axis=1)
        else:
            valid = self._bounds.rows_within(self._matrix, self._labels)
        malformed = int(valid.size - np.count_nonzero(valid))
        if not malformed:
            return self._ids, self._matrix, self._labels, 0
        kept = _compact(valid, self._ids, self._matrix, self._labels)
        return self._ids[:kept], self._matrix[:kept], self._labels[:kept], malformed


def _compact(valid: np.ndarray, *arrays: np.ndarray, chunk_rows: int = 65_536) -> int:
    """Move the ``valid`` rows of each array to its front, in order and in place; returns their count.

    Rows only ever move towards the front, so chunk by chunk no row is overwritten before it is
    read, and the extra memory is one chunk instead of a second copy of the whole matrix.
    """
    written = 0
    for start in range(0, valid.size, chunk_rows):
        keep = valid[start : start + chunk_rows]
        count = int(np.count_nonzero(keep))
        for array in arrays:
            array[written : written + count] = array[start : start + chunk_rows][keep]
        written += count
    return written
