"""``mlseam examples``: list stored examples with their provenance, quarantine and release them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlseam.cli.console import out, user_errors
from mlseam.cli.context import ByOption, ServiceArg, load_context

if TYPE_CHECKING:
    from rich.table import Table

    from mlseam.examples import QuarantineEvent, Selection, StoredExample

app = typer.Typer(
    help="Stored examples: where each came from; quarantine (leave out of retrains) and release.",
    no_args_is_help=True,
)

SourceOption = Annotated[str | None, typer.Option(help="only examples from this source: api, seed, ...")]
SinceOption = Annotated[str | None, typer.Option(help="created at or after (ISO 8601; UTC unless it says)")]
UntilOption = Annotated[str | None, typer.Option(help="created before (ISO 8601; UTC unless it says)")]
IdOption = Annotated[list[int] | None, typer.Option("--id", help="this example id (repeatable)")]
FromIdOption = Annotated[int | None, typer.Option(help="ids from this one (inclusive)")]
ToIdOption = Annotated[int | None, typer.Option(help="ids up to this one (inclusive)")]
YesOption = Annotated[bool, typer.Option("--yes", help="apply it (without: only count the examples it would change)")]
ReasonOption = Annotated[str, typer.Option(help="why, kept in the quarantine history")]


def _selection(
    source: str | None,
    since: str | None,
    until: str | None,
    ids: list[int] | None,
    from_id: int | None,
    to_id: int | None,
) -> Selection:
    from mlseam.examples import Selection

    return Selection(
        source=source,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
        ids=tuple(ids or ()),
        id_from=from_id,
        id_to=to_id,
    )


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date or time; write e.g. 2026-12-03 or 2026-12-03T14:00", param_hint=option
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("list")
@user_errors
def list_command(
    service: ServiceArg,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    ids: IdOption = None,
    from_id: FromIdOption = None,
    to_id: ToIdOption = None,
    limit: Annotated[int, typer.Option(min=1, help="most rows shown")] = 50,
) -> None:
    """The selected examples in id order: id, external id, source, request id, created, label, quarantined."""
    _, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    selection = _selection(source, since, until, ids, from_id, to_id)
    rows = stores.examples.list_examples(loaded.name, loaded.kind, selection, limit=limit)
    out().print(examples_table(loaded.name, selection.describe(), rows))


@app.command("quarantine")
@user_errors
def quarantine_command(
    service: ServiceArg,
    reason: ReasonOption,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    ids: IdOption = None,
    from_id: FromIdOption = None,
    to_id: ToIdOption = None,
    yes: YesOption = False,
    by: ByOption = None,
) -> None:
    """Leave the selected examples out of the next retrains (a dry-run count first; --yes applies it)."""
    _change(service, "quarantine", _selection(source, since, until, ids, from_id, to_id), yes, reason, by)


@app.command("release")
@user_errors
def release_command(
    service: ServiceArg,
    reason: ReasonOption,
    source: SourceOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    ids: IdOption = None,
    from_id: FromIdOption = None,
    to_id: ToIdOption = None,
    yes: YesOption = False,
    by: ByOption = None,
) -> None:
    """Bring quarantined examples back into the next retrains (a dry-run count first; --yes applies it)."""
    _change(service, "release", _selection(source, since, until, ids, from_id, to_id), yes, reason, by)


@app.command("history")
@user_errors
def history_command(service: ServiceArg) -> None:
    """Every quarantine and release of the service: revision, when, who, rule, rows, why."""
    _, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    out().print(history_table(loaded.name, stores.examples.quarantine_history(loaded.name)))


def _change(service: str, verb: str, selection: Selection, yes: bool, reason: str, by: str | None) -> None:
    from mlseam.examples import Action
    from mlseam.training.promotion import current_actor

    if selection.is_everything:
        raise typer.BadParameter("name the examples with --source, --since/--until, --id or --from-id/--to-id")
    _, stores, loaded = load_context(service)
    assert loaded is not None  # noqa: S101 - a service was named
    action, rule = Action(verb), selection.describe()
    if not yes:
        count = stores.examples.count_changed(loaded.name, loaded.kind, selection, action)
        out().print(f"{loaded.name}: {verb} would change {count} examples ({rule}); add --yes to apply", markup=False)
        return
    event = stores.examples.apply_quarantine(
        loaded.name, loaded.kind, selection, action, actor=by or current_actor(), reason=reason
    )
    if event is None:
        out().print(f"{loaded.name}: {verb}: no example to change ({rule}); nothing recorded", markup=False)
        return
    done = "quarantined" if action is Action.QUARANTINE else "released"
    out().print(
        f"{loaded.name}: {done} {event.rows} examples ({rule}), quarantine revision {event.revision}; "
        "the next retrain reads with it",
        markup=False,
    )


def examples_table(service: str, rule: str, rows: list[StoredExample]) -> Table:
    """The compact listing of ``mlseam examples list``."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{service}: examples ({rule}; times UTC)", box=box.SIMPLE_HEAD)
    for column in ("id", "external_id", "source", "request id", "created", "label", "quarantined", "superseded by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row.id),
            row.external_id,
            row.source,
            row.request_id or "",
            _utc(row.created_at),
            _shown_label(row.label),
            "yes" if row.quarantined else "",
            str(row.superseded_by) if row.superseded_by is not None else "",
        )
    return table


def history_table(service: str, events: list[QuarantineEvent]) -> Table:
    """The quarantine history of ``mlseam examples history``."""
    from rich import box
    from rich.table import Table

    table = Table(title=f"{service}: quarantine history (times UTC)", box=box.SIMPLE_HEAD)
    for column in ("revision", "at", "action", "by", "rule", "rows", "reason"):
        table.add_column(column, overflow="fold")
    for event in events:
        cells = [str(event.revision), _utc(event.created_at), event.action.value, event.actor, event.rule]
        table.add_row(*cells, str(event.rows), event.reason)
    return table


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _shown_label(label: Any, width: int = 40) -> str:
    text = label if isinstance(label, str) else json.dumps(label)
    return text if len(text) <= width else text[: width - 3] + "..."
