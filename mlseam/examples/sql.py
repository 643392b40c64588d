"""SQL the PostgreSQL examples store shares: which rows a read sees and which rows a selection names."""

from __future__ import annotations

from typing import Any

from mlseam.examples.records import Selection

EVENTS = "example_quarantine_events"
HELD_ROWS = "example_quarantine_rows"

# The rows whose latest event up to a revision quarantined them (params: service, table, revision).
_HELD = (
    "SELECT example_id FROM ("
    f"SELECT DISTINCT ON (example_id) example_id, quarantined FROM {HELD_ROWS} "
    "WHERE service = %s AND examples_table = %s AND event_id <= %s ORDER BY example_id, event_id DESC"
    ") AS latest WHERE quarantined"
)


def held_sql(alias: str = "e") -> tuple[str, str]:
    """(``NOT EXISTS`` and ``EXISTS`` conditions) on row ``alias``: not held / held by a quarantine."""
    exists = f"EXISTS (SELECT 1 FROM ({_HELD}) AS held WHERE held.example_id = {alias}.id)"
    return f"NOT {exists}", exists


def held_params(service: str, table: str, revision: int) -> tuple[Any, ...]:
    """The parameters of ``held_sql``'s conditions, in order."""
    return (service, table, revision)


def as_of_sql(alias: str = "e") -> str:
    """The rows of a service a read at a watermark sees (params: service, watermark, watermark).

    A row superseded by a later one is still seen at watermarks below its successor's id, so every
    version's watermark reproduces the labels it trained on.
    """
    return (
        f"{alias}.service = %s AND {alias}.id <= %s AND ({alias}.superseded_by IS NULL OR {alias}.superseded_by > %s)"
    )


def visible_sql(
    service: str, table: str, watermark: int, revision: int, *, any_held: bool, alias: str = "e"
) -> tuple[str, tuple[Any, ...]]:
    """The condition (and its parameters) on the rows a read at ``watermark`` and ``revision`` returns.

    Without ``any_held`` (no row is quarantined at ``revision``) the quarantine is left out of the
    query, so that the usual read costs no anti-join.
    """
    as_of = (service, watermark, watermark)
    if not any_held:
        return as_of_sql(alias), as_of
    return f"{as_of_sql(alias)} AND {held_sql(alias)[0]}", (*as_of, *held_params(service, table, revision))


def count_held_sql(table: str, alias: str = "e") -> str:
    """How many rows a read at a watermark leaves out as quarantined (params: held, then as-of)."""
    return (
        f"SELECT count(*) FROM {table} AS {alias} JOIN ({_HELD}) AS held ON held.example_id = {alias}.id "
        f"WHERE {as_of_sql(alias)}"
    )


def count_as_of_sql(table: str) -> str:
    """How many rows a read at a watermark sees before quarantine (params: service, watermark, service,
    watermark), from the (service, id) and superseded indexes alone: a successor's id is always the higher.
    """
    return (
        f"SELECT (SELECT count(*) FROM {table} WHERE service = %s AND id <= %s) - "
        f"(SELECT count(*) FROM {table} WHERE service = %s AND superseded_by <= %s)"
    )


def watermark_sql(table: str) -> str:
    """The highest id of a service's rows, 0 before any (params: service)."""
    return f"SELECT coalesce(max(id), 0) FROM {table} WHERE service = %s"


def selection_sql(selection: Selection, alias: str = "e") -> tuple[str, tuple[Any, ...]]:
    """A condition (and its parameters) true of the rows ``selection`` names."""
    terms: list[str] = []
    params: list[Any] = []
    for term, value in (
        ("source = %s", selection.source),
        ("created_at >= %s", selection.since),
        ("created_at < %s", selection.until),
        ("id = ANY(%s)", [int(i) for i in selection.ids] or None),
        ("id >= %s", selection.id_from),
        ("id <= %s", selection.id_to),
    ):
        if value is not None:
            terms.append(f"{alias}.{term}")
            params.append(value)
    if selection.labels_a_prediction:
        terms.append(f"{alias}.prediction_id IS NOT NULL")  # the partial index on prediction_id holds just these
    return " AND ".join(terms) or "TRUE", tuple(params)


def revision_sql() -> str:
    """The latest quarantine revision of a service, 0 before any (params: service)."""
    return f"SELECT coalesce(max(id), 0) FROM {EVENTS} WHERE service = %s"
