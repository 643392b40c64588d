"""Quarantine in PostgreSQL: append-only events, each naming the rows it held back or released.

A rule (source, time window, ids) is resolved to rows when it is applied, so a revision always
means the same rows: rows that arrive later are not caught by an older rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlseam.examples import sql
from mlseam.examples.records import Action, QuarantineEvent, Selection, StoredExample
from mlseam.tasks import TaskKind

if TYPE_CHECKING:
    import psycopg2.extensions


def current_revision(cur: psycopg2.extensions.cursor, service: str) -> int:
    """The latest quarantine revision of ``service`` (0 before any quarantine)."""
    cur.execute(sql.revision_sql(), (service,))
    row = cur.fetchone()
    return int(row[0]) if row else 0


def list_examples(
    cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any], selection: Selection, *, limit: int
) -> list[StoredExample]:
    """The selected rows of ``service`` in id order, each saying whether it is quarantined now."""
    where, params = sql.selection_sql(selection)
    _, held = sql.held_sql()
    cur.execute(
        "SELECT id, external_id, source, request_id, prediction_id, created_at, to_jsonb(label), superseded_by, "
        f"{held} FROM {kind.table} AS e WHERE e.service = %s AND {where} ORDER BY id LIMIT %s",
        (*_held_now(cur, service, kind), service, *params, limit),
    )
    return [StoredExample(*row) for row in cur.fetchall()]


def count_changed(
    cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action
) -> int:
    """How many selected rows ``action`` would change: those not held yet, or those held now."""
    condition, params = _changed_sql(cur, service, kind, selection, action)
    cur.execute(f"SELECT count(*) FROM {kind.table} AS e WHERE {condition}", params)
    row = cur.fetchone()
    return int(row[0]) if row else 0


def apply(
    cur: psycopg2.extensions.cursor,
    service: str,
    kind: TaskKind[Any, Any],
    selection: Selection,
    action: Action,
    *,
    actor: str,
    reason: str,
) -> QuarantineEvent | None:
    """Record ``action`` on the selected rows it changes; None (nothing recorded) when there are none."""
    # One writer per service at a time: each event is resolved against the one before it.
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('mlseam-quarantine:' || %s))", (service,))
    condition, params = _changed_sql(cur, service, kind, selection, action)
    cur.execute(
        f"INSERT INTO {sql.EVENTS} (service, examples_table, action, rule, reason, actor, rows) "
        "VALUES (%s, %s, %s, %s, %s, %s, 0) RETURNING id",
        (service, kind.table, action.value, selection.describe(), reason, actor),
    )
    revision = _one(cur)
    cur.execute(
        f"INSERT INTO {sql.HELD_ROWS} (event_id, service, examples_table, example_id, quarantined) "
        f"SELECT %s, %s, %s, e.id, %s FROM {kind.table} AS e WHERE {condition}",
        (revision, service, kind.table, action is Action.QUARANTINE, *params),
    )
    changed = cur.rowcount
    if changed == 0:
        cur.connection.rollback()
        return None
    cur.execute(f"UPDATE {sql.EVENTS} SET rows = %s WHERE id = %s RETURNING {_EVENT_COLUMNS}", (changed, revision))
    return _event(cur.fetchone())


def history(cur: psycopg2.extensions.cursor, service: str) -> list[QuarantineEvent]:
    """Every quarantine event of ``service``, oldest first."""
    cur.execute(f"SELECT {_EVENT_COLUMNS} FROM {sql.EVENTS} WHERE service = %s ORDER BY id", (service,))
    return [_event(row) for row in cur.fetchall()]


_EVENT_COLUMNS = "id, service, action, rule, reason, actor, rows, created_at"


def _event(row: Any) -> QuarantineEvent:
    revision, service, action, rule, reason, actor, rows, created_at = row
    return QuarantineEvent(int(revision), service, Action(action), rule, reason, actor, int(rows), created_at)


def _changed_sql(
    cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any], selection: Selection, action: Action
) -> tuple[str, tuple[Any, ...]]:
    where, params = sql.selection_sql(selection)
    not_held, held = sql.held_sql()
    state = not_held if action is Action.QUARANTINE else held
    return f"e.service = %s AND {where} AND {state}", (service, *params, *_held_now(cur, service, kind))


def _held_now(cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any]) -> tuple[Any, ...]:
    return sql.held_params(service, kind.table, current_revision(cur, service))


def _one(cur: psycopg2.extensions.cursor) -> int:
    row = cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
    return int(row[0])
