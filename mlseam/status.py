"""The manager's view: every service with its champion, and each service's quality history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich import box
from rich.table import Table

from mlseam.errors import MlseamError
from mlseam.manifest import Service, discover_services, load_service
from mlseam.monitoring.shadow import compare_in_shadow
from mlseam.monitoring.versus import describe_versus
from mlseam.registry import ModelVersion, Status, latest_pending
from mlseam.runtime.shadow import select_challenger
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training.promotion import rolled_back_versions

SHADOW_WINDOW = timedelta(days=7)
"""How far back ``mlseam status`` reads the challengers' answers in shadow."""


def _metric(record: ModelVersion | None, metrics: dict[str, float] | None = None) -> str:
    if record is None:
        return "-"
    value = (metrics if metrics is not None else record.metrics).get(record.primary_metric)
    return "-" if value is None else f"{value:.4f}"


def _live(record: ModelVersion | None) -> str:
    """``0.9512 on 420`` labelled live predictions, from the last ``mlseam monitor``; ``-`` before any."""
    if record is None or not record.live:
        return "-"
    live = record.live
    value = (live.get("metrics") or {}).get(record.primary_metric)
    return "not measured" if value is None else f"{value:.4f} on {live.get('labelled', 0)}"


def _drift(record: ModelVersion | None) -> str:
    drift = record.drift if record is not None else None
    return str(drift.get("verdict", "-")) if drift else "-"


def pending_cell(versions: list[ModelVersion]) -> str:
    """``v7`` (the one ``mlseam approve`` takes), ``v7 (+1 older)`` when older ones wait too, ``-`` for none."""
    latest = latest_pending(versions)
    if latest is None:
        return "-"
    older = sum(1 for record in versions if record.status is Status.PENDING) - 1
    return latest.version + (f" (+{older} older)" if older else "")


def shadow_cell(service: Service, versions: list[ModelVersion], champion: str | None) -> str:
    """The challenger the APIs shadow now and at what share (``v8 at 10%``), ``-`` for none."""
    challenger = select_challenger(versions, champion, service.manifest.shadow, datetime.now(UTC))
    return "-" if challenger is None else f"{challenger.version} at {service.manifest.shadow.share:.0%}"


def pending_line(service: str, versions: list[ModelVersion]) -> str | None:
    """What waits for approval and the commands that settle it, or None."""
    latest = latest_pending(versions)
    if latest is None:
        return None
    return (
        f"{service}: {pending_cell(versions)} pending approval: "
        f"`mlseam approve {service} {latest.version}` or `mlseam reject {service} {latest.version} --reason ...`"
    )


def _when(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def overview_table(settings: Settings, stores: Stores) -> Table:
    """One row per service: champion, its primary metric, when it was trained, example count,
    (from the last ``mlseam monitor``) its primary metric on labelled live predictions and its drift
    verdict, the version pending approval, if any, and the challenger in shadow.

    A service that fails to load still gets its row, with the reason, so one broken folder
    never hides the others.
    """
    table = Table(title="mlseam services (times UTC)")
    table.add_column("service", no_wrap=True)
    table.add_column("champion", no_wrap=True)
    table.add_column("primary metric")
    table.add_column("trained", no_wrap=True)
    table.add_column("examples", justify="right")
    table.add_column("live")
    table.add_column("drift")
    table.add_column("pending", no_wrap=True)
    table.add_column("shadow", no_wrap=True)
    table.add_column("last retrain")
    for name in discover_services(settings.services_dir):
        try:
            service = load_service(name, settings.services_dir)
        except MlseamError as exc:
            table.add_row(name, "-", "-", "-", "-", "-", "-", "-", "-", f"cannot load: {exc}")
            continue
        champion = stores.registry.get_champion(name)
        record = stores.registry.get_version(name, champion.version) if champion else None
        versions = stores.registry.list_versions(name)
        last = f"{versions[0].version} {versions[0].status.value}" if versions else "never"
        count = stores.examples.stats(name, service.kind).count
        table.add_row(
            name,
            champion.version if champion else "none",
            f"{service.model_class.primary_metric} {_metric(record)}" if record else "-",
            _when(record.finished_at) if record else "-",
            str(count),
            _live(record),
            _drift(record),
            pending_cell(versions),
            shadow_cell(service, versions, champion.version if champion else None),
            last,
        )
    return table


WIDE = 120
"""Terminal width from which the history shows every column on one line per version."""


def history_table(service: Service, stores: Stores, *, width: int = WIDE) -> Table:
    """Every retrain of ``service``, newest first, with both metrics on the shared holdout.

    Narrower than ``WIDE``, the row counts and watermark are left out and times take two lines,
    so that the reason still has room to be read.
    """
    primary = service.model_class.primary_metric
    champion = stores.registry.get_champion(service.name)
    direction = "higher" if service.model_class.higher_is_better else "lower"
    wide = width >= WIDE
    table = Table(title=f"{service.name}: versions ({primary}, {direction} is better)", box=box.SIMPLE_HEAD)
    columns = ["version", "status", primary, "vs champion"]
    columns += ["train/holdout", "watermark", "finished (UTC)"] if wide else ["finished"]
    for column in columns:
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    rolled_back = rolled_back_versions(stores.registry.history(service.name))
    for record in stores.registry.list_versions(service.name):
        marker = " *" if champion and champion.version == record.version else ""
        then = (
            f"{record.champion_version} {_metric(record, record.champion_metrics or {})}"
            if record.champion_version
            else "-"
        )
        finished = _when(record.finished_at) if record.finished_at else "running"
        cells = [
            record.version + marker,
            record.status.value + ("\n(rolled back)" if record.version in rolled_back else ""),
            _metric(record),
            then,
        ]
        if wide:
            cells += [f"{record.train_count}/{record.holdout_count}", str(record.watermark), finished]
        else:
            cells.append(finished.replace(" ", "\n"))
        table.add_row(*cells, record.reason)
    return table


def champion_moves_table(service: Service, stores: Stores) -> Table:
    """Every promotion and rollback of ``service``, oldest first."""
    table = Table(title=f"{service.name}: champion history", box=box.SIMPLE_HEAD)
    for column in ("#", "action", "from", "to", "at (UTC)"):
        table.add_column(column, no_wrap=True)
    table.add_column("by", overflow="fold", max_width=24)
    table.add_column("reason", overflow="fold")
    for event in stores.registry.history(service.name):
        table.add_row(
            str(event.revision),
            event.action,
            event.from_version or "-",
            event.to_version,
            _when(event.at),
            event.actor or "-",
            event.reason,
        )
    return table


def shadow_lines(service: Service, stores: Stores, *, now: datetime | None = None) -> list[str]:
    """The challenger in shadow now, and each challenger of the last week against the champion on the same requests.

    Read from the stores (the prediction log's shadow rows, the monitor's labelled comparison), so it
    holds for every API task at once, whatever each has in memory.
    """
    now = now or datetime.now(UTC)
    name = service.name
    versions = stores.registry.list_versions(name)
    champion = stores.registry.get_champion(name)
    challenger = select_challenger(versions, champion.version if champion else None, service.manifest.shadow, now)
    share = service.manifest.shadow.share
    lines = [f"{name}: in shadow now: {challenger.version} ({challenger.status.value}) on {share:.0%} of requests"
             if challenger is not None else f"{name}: in shadow now: nothing"]  # fmt: skip
    if stores.predictions is None:
        return lines
    records = {record.version: record for record in versions}
    for comparison in compare_in_shadow(name, stores.predictions, since=now - SHADOW_WINDOW):
        lines.append(f"{name}: {comparison.describe()}")
        record = records.get(comparison.version)
        versus = (record.live or {}).get("versus_champion") if record is not None else None
        if record is not None and versus:
            lines.append(f"{name}: {comparison.version} {describe_versus(record.primary_metric, versus)}")
    return lines
