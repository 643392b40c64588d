"""PostgreSQL prediction log: a row per request, one partition per UTC day, retention by dropping partitions."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from mlseam.errors import StoreError
from mlseam.examples.credentials import SecretCredentials, open_connection
from mlseam.predictionlog.copy_rows import CopyRows
from mlseam.predictionlog.records import (
    LoggedPrediction,
    LoggedRequest,
    PredictionBatch,
    found_in,
    shadow_answers,
    wanted_keys,
)

if TYPE_CHECKING:
    import psycopg2.extensions

TABLE = "prediction_requests"
_PARTITION_PREFIX = f"{TABLE}_p"
_COPY_CHUNK_BYTES = 1 << 20
_COLUMNS = (
    "request_key, first_index, items, service, version, request_id, logged_at, request, answer, "
    "latency_ms, shadow_of, outcome"
)


class PredictionLog(Protocol):
    """Where predictions are logged; the recorder writes, label joins and monitoring read."""

    def write(self, batches: list[PredictionBatch]) -> None:
        """Store every prediction of ``batches`` in one bulk write (creating the day partitions they need).

        It takes ``batches`` over, emptying the list as it goes (the caller reads nothing of it after):
        a write of a full buffer frees each request's bodies once they are sent, while the next one fills.
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

    def shadow_rows(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedRequest]:
        """The challengers' rows (answers in shadow, failures too) logged in ``[since, until)``, oldest first."""
        ...

    def shadows_of(self, service: str, prediction_ids: Sequence[str]) -> dict[str, list[LoggedPrediction]]:
        """The challengers' predictions of the same inputs as the champion's ``prediction_ids``, by champion id."""
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
                    # A log may lose its last fraction of a second in a database crash (it drops entries
                    # under an outage anyway): the writer need not wait for each commit's WAL flush.
                    options = f"-c statement_timeout={int(self.timeout_s * 1000)} -c synchronous_commit=off"
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

    def write(self, batches: list[PredictionBatch]) -> None:
        if not any(batches):
            batches.clear()
            return
        days = {partition_day(batch.logged_at) for batch in batches} - self._partitions
        with self._cursor() as cur:
            for day in sorted(days):
                _create_partition(cur, day)
            # COPY: the rows stream as text, parsed by the server, with no statement built per row.
            # Chunks of a MiB: each one psycopg2 sends releases and retakes the GIL (and every retake
            # makes the serving thread wait for it), and each is held twice, by us and libpq, while sent.
            rows = CopyRows(batches)
            # psycopg2 only calls read(size); its stubs also ask for the readline that COPY FROM never uses.
            cur.copy_expert(f"COPY {TABLE} ({_COLUMNS}) FROM STDIN", rows, size=_COPY_CHUNK_BYTES)  # type: ignore[arg-type]
        self._partitions |= days

    def lookup(self, service: str, prediction_ids: Sequence[str]) -> dict[str, LoggedPrediction]:
        keys = wanted_keys(prediction_ids)
        if not keys:
            return {}
        with self._cursor() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND request_key = ANY(%s)", (service, keys))
            rows = [LoggedRequest(*row) for row in cur.fetchall()]
        return found_in(rows, prediction_ids)

    def window(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedPrediction]:
        until = until or datetime.now(UTC) + timedelta(days=1)
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND logged_at >= %s AND logged_at < %s "
                "AND shadow_of IS NULL ORDER BY logged_at, request_key, first_index LIMIT %s",
                (service, since, until, limit),  # a row holds one prediction at least
            )
            rows = [LoggedRequest(*row) for row in cur.fetchall()]
        return [prediction for row in rows for prediction in row.predictions()][:limit]

    def shadow_rows(
        self, service: str, *, since: datetime, until: datetime | None = None, limit: int = 100_000
    ) -> list[LoggedRequest]:
        until = until or datetime.now(UTC) + timedelta(days=1)
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND logged_at >= %s AND logged_at < %s "
                "AND shadow_of IS NOT NULL ORDER BY logged_at, request_key LIMIT %s",
                (service, since, until, limit),
            )
            return [LoggedRequest(*row) for row in cur.fetchall()]

    def shadows_of(self, service: str, prediction_ids: Sequence[str]) -> dict[str, list[LoggedPrediction]]:
        keys = wanted_keys(prediction_ids)
        if not keys:
            return {}
        with self._cursor() as cur:
            cur.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE service = %s AND shadow_of IS NOT NULL "
                "AND left(shadow_of, 24) = ANY(%s)",
                (service, keys),
            )
            rows = [LoggedRequest(*row) for row in cur.fetchall()]
        return shadow_answers(rows, prediction_ids)

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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
