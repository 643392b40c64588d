"""PostgreSQL store of labelled examples: idempotent bulk insert and streaming reads."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import numpy as np

from mlseam.errors import InvalidInputError, StoreError
from mlseam.examples.credentials import SecretCredentials, open_connection
from mlseam.examples.matrix import BinaryMatrixReader, decode_labels, label_sql
from mlseam.tasks import Examples, TaskKind

if TYPE_CHECKING:
    import psycopg2.extensions

Progress = Callable[[int], None]
"""Called with the number of rows read so far while a read streams."""


@dataclass(frozen=True)
class LabelledExample:
    """One example as a client sends it; ``external_id`` makes re-sending it harmless."""

    input: Any
    label: Any
    external_id: str | None = None


@dataclass(frozen=True)
class ReadResult:
    """What a read produced: the valid examples, how many rows were skipped, up to which id."""

    examples: Examples[Any]
    malformed: int
    watermark: int
    seconds: float


@dataclass(frozen=True)
class ExampleStats:
    """How many examples a service has and the highest example id."""

    count: int
    watermark: int


class ExamplesStore(Protocol):
    """Where labelled examples live; the retrain job reads, APIs and seeding add."""

    def add(self, service: str, kind: TaskKind[Any, Any], examples: Sequence[LabelledExample], *, source: str) -> int:
        """Validate every example, then store the new ones; returns how many were new."""
        ...

    def read(self, service: str, kind: TaskKind[Any, Any], *, progress: Progress | None = None) -> ReadResult:
        """Every valid example of ``service``, in id order; malformed rows are counted, not raised."""
        ...

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        """Row count and highest id of ``service``'s examples."""
        ...


def content_id(input_json: Any, label: Any) -> str:
    """A deterministic id for an example sent without ``external_id`` (same content, same id)."""
    canonical = json.dumps([input_json, label], sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ValidExample:
    """An example that passed its task kind's checks, as it will be stored."""

    external_id: str
    stored: Any  # the input as JSON
    label: Any
    extra: dict[str, Any]  # columns the task kind stores beside the JSON


def validate_example(kind: TaskKind[Any, Any], example: LabelledExample, index: int) -> ValidExample:
    """``example`` checked as every store checks it; InvalidInputError names index and field."""
    value = kind.validate_input(example.input, index=index)
    label = kind.validate_label(example.label, index=index)
    kind.check_label_fits(value, label, index=index)
    stored = kind.input_to_json(value)
    external_id = example.external_id
    if external_id is not None and (not isinstance(external_id, str) or not external_id or "\x00" in external_id):
        raise InvalidInputError(
            "external_id: must be a non-empty string without NUL characters", index=index, field="external_id"
        )
    return ValidExample(external_id or content_id(stored, label), stored, label, kind.stored_columns(value))


class PostgresExamplesStore:
    """The examples store on PostgreSQL (psycopg2): one table per task kind."""

    def __init__(self, dsn: str, *, batch_rows: int = 5000, credentials: SecretCredentials | None = None) -> None:
        self.dsn = dsn
        self.batch_rows = batch_rows
        self.credentials = credentials
        """Where the user name and password come from when ``dsn`` has none (a rotated secret in AWS)."""

    def _open(self) -> psycopg2.extensions.connection:
        return open_connection(self.dsn, self.credentials)

    @contextmanager
    def _connect(self, *, readonly: bool = False) -> Iterator[psycopg2.extensions.connection]:
        # Imported here: an API process that never stores examples need not load the driver.
        import psycopg2
        import psycopg2.errors
        import psycopg2.extensions

        try:
            conn = self._open()
        except psycopg2.OperationalError as exc:
            where = urlsplit(self.dsn)
            raise StoreError(
                f"cannot reach PostgreSQL at {where.hostname}:{where.port}: "
                f"{str(exc).strip().splitlines()[0]}; is the database up (locally: make run)?"
            ) from exc
        try:
            if readonly:
                conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
            with conn:
                yield conn
        except psycopg2.errors.UndefinedTable as exc:
            raise StoreError("the examples tables do not exist; run `mlseam migrate` first") from exc
        except psycopg2.Error as exc:
            raise StoreError(f"PostgreSQL error: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            conn.close()

    def add(self, service: str, kind: TaskKind[Any, Any], examples: Sequence[LabelledExample], *, source: str) -> int:
        import psycopg2.extras
        from psycopg2.extras import Json

        valid = [validate_example(kind, example, index) for index, example in enumerate(examples)]
        as_label = Json if kind.label_is_json else _as_is
        rows = [(service, v.external_id, Json(v.stored), as_label(v.label), source, *v.extra.values()) for v in valid]
        if not rows:
            return 0
        columns = ", ".join(["service", "external_id", "input", "label", "source", *valid[0].extra])
        with self._connect() as conn, conn.cursor() as cur:
            inserted = psycopg2.extras.execute_values(
                cur,
                f"INSERT INTO {kind.table} ({columns}) VALUES %s "
                "ON CONFLICT (service, external_id) DO NOTHING RETURNING id",
                rows,
                page_size=1000,
                fetch=True,
            )
        return len(inserted)

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        with self._connect(readonly=True) as conn, conn.cursor() as cur:
            return _stats(cur, service, kind)

    def read(self, service: str, kind: TaskKind[Any, Any], *, progress: Progress | None = None) -> ReadResult:
        started = time.perf_counter()
        # One repeatable-read snapshot: the count, the watermark and the rows all agree.
        with self._connect(readonly=True) as conn:
            with conn.cursor() as cur:
                stats = _stats(cur, service, kind)
            matrix_sql = kind.matrix_sql()
            if matrix_sql is not None:
                examples, malformed = self._read_matrix(conn, service, kind, matrix_sql, stats, progress)
            else:
                examples, malformed = self._read_rows(conn, service, kind, stats, progress)
        return ReadResult(examples, malformed, stats.watermark, time.perf_counter() - started)

    def _read_matrix(
        self,
        conn: psycopg2.extensions.connection,
        service: str,
        kind: TaskKind[Any, Any],
        matrix_sql: str,
        stats: ExampleStats,
        progress: Progress | None,
    ) -> tuple[Examples[Any], int]:
        # Binary COPY of float8 columns parsed by numpy straight into a preallocated matrix:
        # no per-row Python objects, no second copy of the data.
        classes = kind.matrix_classes()
        columns = ", ".join(["id", matrix_sql, label_sql(classes)])
        params: tuple[Any, ...] = (service, stats.watermark) if classes is None else (classes, service, stats.watermark)
        with conn.cursor() as cur:
            query = cur.mogrify(
                f"COPY (SELECT {columns} FROM {kind.table} WHERE service = %s AND id <= %s ORDER BY id) "
                "TO STDOUT WITH (FORMAT binary)",
                params,
            ).decode()
            reader = BinaryMatrixReader(
                rows=stats.count, features=kind.matrix_width, bounds=kind.matrix_bounds(), progress=progress
            )
            cur.copy_expert(query, reader, size=1 << 20)
        ids, matrix, labels, malformed = reader.finish()
        return Examples(ids=ids, inputs=matrix, labels=decode_labels(labels, classes)), malformed

    def _read_rows(
        self,
        conn: psycopg2.extensions.connection,
        service: str,
        kind: TaskKind[Any, Any],
        stats: ExampleStats,
        progress: Progress | None,
    ) -> tuple[Examples[Any], int]:
        ids: list[int] = []
        inputs: list[Any] = []
        labels: list[Any] = []
        malformed = 0
        # A named (server-side) cursor streams batch_rows at a time instead of the whole table.
        with conn.cursor(name="mlseam_read_examples") as cur:
            cur.itersize = self.batch_rows
            cur.execute(
                f"SELECT id, input::text, label FROM {kind.table} WHERE service = %s AND id <= %s ORDER BY id",
                (service, stats.watermark),
            )
            for seen, (row_id, raw_input, raw_label) in enumerate(cur, start=1):
                try:
                    value = kind.read_stored_input(raw_input)
                    label = kind.validate_label(raw_label)
                    kind.check_label_fits(value, label)
                except InvalidInputError:
                    malformed += 1
                else:
                    ids.append(row_id)
                    inputs.append(value)
                    labels.append(label)
                if progress is not None and seen % self.batch_rows == 0:
                    progress(seen)
        if progress is not None:
            progress(stats.count)
        examples = Examples(
            ids=np.asarray(ids, dtype=np.int64), inputs=kind.to_batch(inputs), labels=kind.label_array(labels)
        )
        return examples, malformed


def _as_is(label: Any) -> Any:
    return label


def _stats(cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
    cur.execute(
        f"SELECT count(*), coalesce(max(id), 0) FROM {kind.table} WHERE service = %s",
        (service,),
    )
    count, watermark = cur.fetchone() or (0, 0)
    return ExampleStats(count=int(count), watermark=int(watermark))
