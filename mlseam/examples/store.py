"""PostgreSQL store of labelled examples: idempotent bulk insert with corrections, streaming reads."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from mlseam.errors import InvalidInputError, StoreError
from mlseam.examples import quarantine, sql
from mlseam.examples.credentials import SecretCredentials, open_connection
from mlseam.examples.matrix import BinaryMatrixReader, decode_labels, label_sql
from mlseam.examples.records import (
    Action,
    ExampleStats,
    LabelledExample,
    Progress,
    QuarantineEvent,
    ReadResult,
    Selection,
    Stored,
    StoredExample,
    validate_examples,
)
from mlseam.examples.writes import write_examples
from mlseam.tasks import Examples, TaskKind

if TYPE_CHECKING:
    import psycopg2.extensions


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

    def add(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        examples: Sequence[LabelledExample],
        *,
        source: str,
        request_id: str | None = None,
    ) -> Stored:
        valid = validate_examples(kind, examples)
        if not valid:
            return Stored(new=0, corrected=0)
        with self._connect() as conn, conn.cursor() as cur:
            return write_examples(cur, service, kind, valid, source=source, request_id=request_id)

    def stats(self, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
        with self._connect(readonly=True) as conn, conn.cursor() as cur:
            return _stats(cur, service, kind)

    def read(
        self,
        service: str,
        kind: TaskKind[Any, Any],
        *,
        watermark: int | None = None,
        quarantine_revision: int | None = None,
        progress: Progress | None = None,
    ) -> ReadResult:
        started = time.perf_counter()
        # One repeatable-read snapshot: the counts, the watermark, the revision and the rows all agree.
        with self._connect(readonly=True) as conn:
            with conn.cursor() as cur:
                if watermark is None:
                    watermark = _one(cur, sql.watermark_sql(kind.table), (service,))
                if quarantine_revision is None:
                    quarantine_revision = quarantine.current_revision(cur, service)
                rows, held = _count_read(cur, service, kind, watermark, quarantine_revision)
            where = sql.visible_sql(service, kind.table, watermark, quarantine_revision, any_held=held > 0)
            matrix_sql = kind.matrix_sql()
            if matrix_sql is not None:
                examples, malformed = self._read_matrix(conn, kind, matrix_sql, where, rows, progress)
            else:
                examples, malformed = self._read_rows(conn, kind, where, rows, progress)
        seconds = time.perf_counter() - started
        return ReadResult(examples, malformed, watermark, seconds, quarantine_revision, quarantined=held)

    def list_examples(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, *, limit: int
    ) -> list[StoredExample]:
        with self._connect(readonly=True) as conn, conn.cursor() as cur:
            return quarantine.list_examples(cur, service, kind, selection, limit=limit)

    def count_changed(self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action) -> int:
        with self._connect(readonly=True) as conn, conn.cursor() as cur:
            return quarantine.count_changed(cur, service, kind, selection, action)

    def apply_quarantine(
        self, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action, *, actor: str, reason: str
    ) -> QuarantineEvent | None:
        with self._connect() as conn, conn.cursor() as cur:
            return quarantine.apply(cur, service, kind, selection, action, actor=actor, reason=reason)

    def quarantine_history(self, service: str) -> list[QuarantineEvent]:
        with self._connect(readonly=True) as conn, conn.cursor() as cur:
            return quarantine.history(cur, service)

    def _read_matrix(
        self,
        conn: psycopg2.extensions.connection,
        kind: TaskKind[Any, Any],
        matrix_sql: str,
        where: tuple[str, tuple[Any, ...]],
        rows: int,
        progress: Progress | None,
    ) -> tuple[Examples[Any], int]:
        # Binary COPY of float8 columns parsed by numpy straight into a preallocated matrix:
        # no per-row Python objects, no second copy of the data.
        classes = kind.matrix_classes()
        columns = ", ".join(["id", matrix_sql, label_sql(classes)])
        condition, params = where
        bound = params if classes is None else (classes, *params)
        with conn.cursor() as cur:
            query = cur.mogrify(
                f"COPY (SELECT {columns} FROM {kind.table} AS e WHERE {condition} ORDER BY id) "
                "TO STDOUT WITH (FORMAT binary)",
                bound,
            ).decode()
            reader = BinaryMatrixReader(
                rows=rows, features=kind.matrix_width, bounds=kind.matrix_bounds(), progress=progress
            )
            cur.copy_expert(query, reader, size=1 << 20)
        ids, matrix, labels, malformed = reader.finish()
        return Examples(ids=ids, inputs=matrix, labels=decode_labels(labels, classes)), malformed

    def _read_rows(
        self,
        conn: psycopg2.extensions.connection,
        kind: TaskKind[Any, Any],
        where: tuple[str, tuple[Any, ...]],
        rows: int,
        progress: Progress | None,
    ) -> tuple[Examples[Any], int]:
        ids: list[int] = []
        inputs: list[Any] = []
        labels: list[Any] = []
        malformed = 0
        # A named (server-side) cursor streams batch_rows at a time instead of the whole table.
        with conn.cursor(name="mlseam_read_examples") as cur:
            cur.itersize = self.batch_rows
            condition, params = where
            cur.execute(f"SELECT id, input::text, label FROM {kind.table} AS e WHERE {condition} ORDER BY id", params)
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
            progress(rows)
        examples = Examples(
            ids=np.asarray(ids, dtype=np.int64), inputs=kind.to_batch(inputs), labels=kind.label_array(labels)
        )
        return examples, malformed


def _stats(cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any]) -> ExampleStats:
    cur.execute(
        f"SELECT count(*) FILTER (WHERE superseded_by IS NULL), coalesce(max(id), 0), ({sql.revision_sql()}) "
        f"FROM {kind.table} WHERE service = %s",
        (service, service),
    )
    count, watermark, revision = cur.fetchone() or (0, 0, 0)
    return ExampleStats(count=int(count), watermark=int(watermark), quarantine_revision=int(revision))


def _count_read(
    cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any], watermark: int, revision: int
) -> tuple[int, int]:
    """(rows a read at ``watermark`` and ``revision`` returns, rows it leaves out as quarantined)."""
    as_of = (service, watermark, watermark)
    held = _one(cur, sql.count_held_sql(kind.table), (*sql.held_params(service, kind.table, revision), *as_of))
    seen = _one(cur, sql.count_as_of_sql(kind.table), (service, watermark, service, watermark))
    return seen - held, held


def _one(cur: psycopg2.extensions.cursor, query: str, params: tuple[Any, ...]) -> int:
    cur.execute(query, params)
    row = cur.fetchone()
    return int(row[0]) if row else 0
