"""The prediction log's rows in PostgreSQL COPY's text format, rendered a chunk at a time as they are sent."""

from __future__ import annotations

from datetime import UTC, datetime

from mlseam.predictionlog.records import PredictionBatch


class CopyRows:
    """COPY's input in the text format, rendered a chunk of rows at a time as ``copy_expert`` reads it.

    A write may hold a full buffer of requests: rendering it whole before sending it in chunks
    would hold every body three times over at once (the batches, their lines, the joined text).
    It empties the list of batches it is given as it reads them.
    """

    def __init__(self, batches: list[PredictionBatch]) -> None:
        batches.reverse()  # taken from the end, so in order, each dropped once it is rendered
        self._batches = batches
        self._names: dict[tuple[str, str], bytes] = {}  # most batches of one write share service and version
        self._seconds: dict[int, bytes] = {}

    def read(self, size: int = -1) -> bytes:
        """Whole rows, about ``size`` bytes of them (at least one; every row when ``size`` < 0); b"" at the end."""
        pieces: list[bytes] = []
        length = 0
        while self._batches:
            row = self._row(self._batches.pop())
            pieces += row
            length += sum(map(len, row))
            if 0 <= size <= length:
                break
        return b"".join(pieces)

    def _row(self, batch: PredictionBatch) -> tuple[bytes, ...]:
        """One batch's line, tab-separated, backslash-escaped, \\N for NULL; each body a piece, not copied."""
        key, first = batch.first
        names = self._names.get((batch.service, batch.version))
        if names is None:
            names = _copy_text(batch.service) + b"\t" + _copy_text(batch.version)
            self._names[batch.service, batch.version] = names
        request_id = b"\\N" if batch.request_id is None else _copy_text(batch.request_id)
        at = _copy_time(batch.logged_at, self._seconds)
        head = b"%s\t%d\t%d\t%s\t%s\t%s\t" % (key.encode(), first, batch.count, names, request_id, at)
        return head, _copy_bytes(batch.request), b"\t", _copy_bytes(batch.answer), b"\t%s\n" % _copy_shadow(batch)


def _copy_shadow(batch: PredictionBatch) -> bytes:
    """The latency, shadow link and outcome columns (``\\N`` for what a batch does not say)."""
    latency = b"\\N" if batch.latency_ms is None else b"%.3f" % batch.latency_ms
    shadow_of = b"\\N" if batch.shadow_of is None else _copy_text(batch.shadow_of)
    outcome = b"\\N" if batch.outcome is None else _copy_text(batch.outcome)
    return b"%s\t%s\t%s" % (latency, shadow_of, outcome)


def _copy_time(at: datetime, seconds: dict[int, bytes]) -> bytes:
    """``at`` as ISO 8601 text; the batches of one write fall in a few seconds, each printed once."""
    whole = int(at.timestamp())
    printed = seconds.get(whole)
    if printed is None:
        printed = seconds[whole] = at.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat().encode()
    return b"%s.%06d+00:00" % (printed, at.microsecond)


def _copy_bytes(text: str | bytes) -> bytes:
    """JSON text escaped for COPY: a request body may hold tabs and newlines as whitespace."""
    data = text.encode() if isinstance(text, str) else text
    for raw, escaped in _COPY_ESCAPES:
        if raw in data:  # a scan for each, without copying, in the usual case of nothing to escape
            data = data.replace(raw, escaped)
    return data


_COPY_ESCAPES = ((b"\\", b"\\\\"), (b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r"))


def _copy_text(value: str) -> bytes:
    if value.isalnum():
        return value.encode()  # request ids, versions, service names: nothing to escape
    return _copy_bytes(value.encode())
