"""How the PostgreSQL store writes examples: new ones inserted, corrected labels superseding the old row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlseam.errors import StoreError
from mlseam.examples.records import Stored, ValidExample
from mlseam.tasks import TaskKind

if TYPE_CHECKING:
    import psycopg2.extensions

_ATTEMPTS = 3


def write_examples(
    cur: psycopg2.extensions.cursor,
    service: str,
    kind: TaskKind[Any, Any],
    valid: Sequence[ValidExample],
    *,
    source: str,
    request_id: str | None,
) -> Stored:
    """Insert the examples whose external_id is new, then supersede those whose label changed.

    Run in one transaction: either every example is stored or none is.
    """
    new = corrected = 0
    pending = list(valid)
    for _ in range(_ATTEMPTS):
        inserted = _insert(cur, service, kind, pending, source=source, request_id=request_id, ids=None)
        known = [v for v in pending if v.external_id not in inserted]
        changed, moved = _changed_labels(cur, service, kind, known)
        if changed:
            _correct(cur, service, kind, changed, source=source, request_id=request_id)
        new, corrected = new + len(inserted), corrected + len(changed)
        # A concurrent writer superseded these rows after this statement's snapshot: the next
        # statement sees their successors, so they are compared again with those.
        pending = moved
        if not pending:
            return Stored(new=new, corrected=corrected)
    raise StoreError(
        f"{len(pending)} examples of {service} were corrected by other writers while this one was; send them again"
    )


def _correct(
    cur: psycopg2.extensions.cursor,
    service: str,
    kind: TaskKind[Any, Any],
    changed: list[tuple[int, ValidExample]],
    *,
    source: str,
    request_id: str | None,
) -> None:
    """Store each example as the successor of the row whose label it changes."""
    # The successors' ids are taken first so the old rows can point at them before the new rows
    # exist: at no moment are two rows of one external_id both current.
    cur.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", (kind.table, len(changed))
    )
    new_ids = [int(row[0]) for row in cur.fetchall()]
    _supersede(cur, kind, [(old_id, new_id) for (old_id, _), new_id in zip(changed, new_ids, strict=True)])
    rows = [example for _, example in changed]
    _insert(cur, service, kind, rows, source=source, request_id=request_id, ids=new_ids)


def _insert(
    cur: psycopg2.extensions.cursor,
    service: str,
    kind: TaskKind[Any, Any],
    valid: Sequence[ValidExample],
    *,
    source: str,
    request_id: str | None,
    ids: list[int] | None,
) -> set[str]:
    """The external ids inserted; without ``ids``, those already current are skipped."""
    import psycopg2.extras
    from psycopg2.extras import Json

    as_label = Json if kind.label_is_json else _as_is
    rows = [
        (
            service,
            v.external_id,
            Json(v.stored),
            as_label(v.label),
            source,
            request_id,
            v.prediction_id,
            *v.extra.values(),
        )
        for v in valid
    ]
    columns = ["service", "external_id", "input", "label", "source", "request_id", "prediction_id", *valid[0].extra]
    if ids is not None:
        rows = [(row_id, *row) for row_id, row in zip(ids, rows, strict=True)]
        columns.insert(0, "id")
    conflict = "" if ids is not None else "ON CONFLICT (service, external_id) WHERE superseded_by IS NULL DO NOTHING "
    inserted = psycopg2.extras.execute_values(
        cur,
        f"INSERT INTO {kind.table} ({', '.join(columns)}) VALUES %s {conflict}RETURNING external_id",
        rows,
        page_size=1000,
        fetch=True,
    )
    return {row[0] for row in inserted}


def _changed_labels(
    cur: psycopg2.extensions.cursor, service: str, kind: TaskKind[Any, Any], known: Sequence[ValidExample]
) -> tuple[list[tuple[int, ValidExample]], list[ValidExample]]:
    """(current row id, example) for each example whose label differs from its current row's, locked;
    and the examples whose current row was superseded meanwhile.
    """
    if not known:
        return [], []
    by_id = {v.external_id: v for v in known}
    # Compared as JSON on both sides: one rule for text, number and JSON labels.
    cur.execute(
        f"SELECT id, external_id, to_jsonb(label) FROM {kind.table} "
        "WHERE service = %s AND external_id = ANY(%s) AND superseded_by IS NULL ORDER BY id FOR UPDATE",
        (service, list(by_id)),
    )
    changed = []
    for row_id, external_id, stored_label in cur.fetchall():
        example = by_id.pop(external_id)
        if stored_label != _as_json(example.label):
            changed.append((int(row_id), example))
    return changed, list(by_id.values())


def _supersede(cur: psycopg2.extensions.cursor, kind: TaskKind[Any, Any], successors: list[tuple[int, int]]) -> None:
    import psycopg2.extras

    psycopg2.extras.execute_values(
        cur,
        f"UPDATE {kind.table} AS e SET superseded_by = s.new_id FROM (VALUES %s) AS s (old_id, new_id) "
        "WHERE e.id = s.old_id",
        successors,
        page_size=1000,
    )


def _as_json(label: Any) -> Any:
    return json.loads(json.dumps(label))


def _as_is(label: Any) -> Any:
    return label
