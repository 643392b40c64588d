"""PostgreSQL prediction log: one partition per UTC day, bulk inserts, retention by dropping partitions."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson

from mlseam.errors import StoreError
from mlseam.examples.credentials import SecretCredentials, open_connection

if TYPE_CHECKING:
    import psycopg2.extensions

TABLE = "prediction_log"
_PARTITION_PREFIX = f"{TABLE}_p"
_COPY_CHUNK_BYTES = 4 << 20
_COLUMNS = "prediction_id, service, version, request_id, logged_at, input, output"


@dataclass(frozen=True)
class LoggedPrediction:
    """One prediction as logged: its id, who answered it with which version, when, what in and out."""

    prediction_id: str
    service: str
    version: str
    request_id: str | None
    logged_at: datetime
    input: Any
    """The input as stored JSON (the task kind's ``input_to_json`` of the validated input)."""
    output: Any
    """The output JSON object as answered, without its ``prediction_id``."""


class PredictionLog(Protocol):
    """Where predictions are logged; the recorder writes, label joins and monitoring read."""

    def write(self, entries: Sequence[LoggedPrediction]) -> None:
        """Store ``entries`` in one bulk write (creating the day partitions they need).

        An output may still carry its ``prediction_id`` (as answered, last): it is not stored twice.
        """
        ...

    def lookup(self, service: str, prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
        """The logged predictions among ``prediction_ids`` (unknown or expired ids are absent)."""
        ...

    def window(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedPrediction]:
        """``service``'s predictions logged in ``[since, until)``, oldest first, at most ``limit``."""
        ...

    def prune(self, *, older_than: datetime) -> int:
        """Drop every day partition wholly older than ``older_than``; returns how many went."""
        ...


def partition_day(moment: datetime) -> date:
    """The UTC day whose partition holds an entry logged at ``moment``."""
    return moment.astimezone(UTC).date()


def _partition_name(day: date) -> str:
    return f"{_PARTITION_PREFIX}{day:%Y%m%d}"


class PostgresPredictionLog:
    """The prediction log on PostgreSQL (psycopg2), in the examples' database; one connection kept."""

    def __init__(self, dsn: str, *, credentials: SecretCredentials | None = None, timeout_s: float = 5.0) -> None:
        self.dsn = dsn
        self.credentials = credentials
        self.timeout_s = timeout_s
        self._conn: psycopg2.extensions.connection | None = None
        self._lock = threading.Lock()
        self._partitions: set[date] = set()

    @contextmanager
    def _cursor(self) -> Iterator[psycopg2.extensions.cursor]:
        import psycopg2

        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    options = f"-c statement_timeout={int(self.timeout_s * 1000)}"
                    self._conn = open_connection(self.dsn, self.credentials, options=options)
                with self._conn, self._conn.cursor() as cur:
                    yield cur
            except psycopg2.OperationalError as exc:
                self._close()
                where = urlsplit(self.dsn)
                raise StoreError(
                    f"cannot reach PostgreSQL at {where.hostname}:{where.port}: {_first_line(exc)}"
                ) from exc
            except psycopg2.errors.UndefinedTable as exc:
                raise StoreError("the prediction log table does not exist; run `mlseam migrate` first") from exc
            except psycopg2.Error as exc:
                self._close()
                raise StoreError(f"PostgreSQL error: {_first_line(exc)}") from exc

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close the kept connection (the next call opens another)."""
        with self._lock:
            self._close()

    def write(self, entries: Sequence[LoggedPrediction]) -> None:
        if not entries:
            return
        days = {partition_day(entry.logged_at) for entry in entries} - self._partitions
        # COPY: the rows stream as text, parsed by the server, with no statement built per row.
        # orjson escapes every control character inside JSON strings: only backslashes need doubling.
        rows = io.BytesIO(_copy_lines(entries))
        with self._cursor() as cur:
            for day in sorted(days):
                _create_partition(cur, day)
            # One large read per write: each chunk psycopg2 sends releases and retakes the GIL,
            # and every retake makes the serving thread wait for it.
            cur.copy_expert(f"COPY {TABLE} ({_COLUMNS}) FROM STDIN", rows, size=_COPY_CHUNK_BYTES)
        self._partitions |= days

    def lookup(self, service: str, prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
        if not prediction_ids:
            return {}
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND prediction_id = ANY(%s)",
                (service, list(prediction_ids)),
            )
            return {row[0]: LoggedPrediction(*row) for row in cur.fetchall()}

    def window(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedPrediction]:
        until = until or datetime.now(UTC) + timedelta(days=1)
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND logged_at >= %s AND logged_at < %s "
                "ORDER BY logged_at LIMIT %s",
                (service, since, until, limit),
            )
            return [LoggedPrediction(*row) for row in cur.fetchall()]

    def prune(self, *, older_than: datetime) -> int:
        cutoff = partition_day(older_than)
        with self._cursor() as cur:
            cur.execute(
                "SELECT child.relname FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent "
                "JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = %s",
                (TABLE,),
            )
            days = {name: _day_of(name) for (name,) in cur.fetchall()}
            old = [name for name, day in days.items() if day is not None and day < cutoff]
            for name in old:
                cur.execute(f"DROP TABLE IF EXISTS {name}")
        self._partitions = {day for day in self._partitions if day >= cutoff}
        return len(old)


def _create_partition(cur: psycopg2.extensions.cursor, day: date) -> None:
    # Writers of several processes may race to create one day: the loser's IF NOT EXISTS
    # can still fail on the catalog's unique index, which means the partition is there.
    import psycopg2.errors

    cur.execute("SAVEPOINT partition")
    try:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {_partition_name(day)} PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)",
            (_midnight(day), _midnight(day + timedelta(days=1))),
        )
    except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateTable):
        cur.execute("ROLLBACK TO SAVEPOINT partition")
    else:
        cur.execute("RELEASE SAVEPOINT partition")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def _day_of(partition: str) -> date | None:
    """The day of a partition named by ``_partition_name``; None for any other table."""
    if not partition.startswith(_PARTITION_PREFIX):
        return None
    try:
        return datetime.strptime(partition.removeprefix(_PARTITION_PREFIX), "%Y%m%d").replace(tzinfo=UTC).date()
    except ValueError:
        return None


_ID_FIELD = b',"prediction_id":"'
_ID_SUFFIX = len(_ID_FIELD) + 32 + 2  # the field, 32 hex characters, the closing quote and brace


def _copy_lines(entries: Sequence[LoggedPrediction]) -> bytes:
    """``entries`` in COPY's text format (tab-separated, backslash-escaped, \\N for NULL), one line each."""
    lines: list[bytes] = []
    prefixes: dict[tuple[str, str, str | None, datetime], bytes] = {}
    for entry in entries:
        # The entries of one request share these four fields: escaped once per request, not per row.
        key = (entry.service, entry.version, entry.request_id, entry.logged_at)
        prefix = prefixes.get(key)
        if prefix is None:
            request_id = b"\\N" if entry.request_id is None else _copy_text(entry.request_id)
            at = entry.logged_at.isoformat().encode()
            prefix = prefixes[key] = b"\t".join((_copy_text(entry.service), _copy_text(entry.version), request_id, at))
        input_json = orjson.dumps(entry.input).replace(b"\\", b"\\\\")
        output_json = _output_json(entry.output).replace(b"\\", b"\\\\")
        lines.append(b"%s\t%s\t%s\t%s\n" % (_copy_text(entry.prediction_id), prefix, input_json, output_json))
    return b"".join(lines)


def _output_json(output: Any) -> bytes:
    """The output's JSON without its ``prediction_id`` (spliced in last, so cut off without a parse)."""
    # orjson writes a pre-rendered Fragment as is: no parse, no re-encode of probabilities.
    text = orjson.dumps(output)
    if text[-_ID_SUFFIX : -_ID_SUFFIX + len(_ID_FIELD)] == _ID_FIELD and text.endswith(b'"}'):
        return text[:-_ID_SUFFIX] + b"}"
    if isinstance(output, dict) and "prediction_id" in output:
        return orjson.dumps({key: value for key, value in output.items() if key != "prediction_id"})
    return text


def _copy_text(value: str) -> bytes:
    escaped = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.encode()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
