"""The overview and service pages: facts read in parallel, turned into template context."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlseam.dashboard import charts
from mlseam.dashboard.facts import (
    ServiceFacts,
    describe_duration,
    describe_growth,
    describe_outcome,
    read_facts,
)
from mlseam.dashboard.modelcard import render_model_card
from mlseam.dashboard.probes import ApiProbe
from mlseam.errors import UnknownServiceError
from mlseam.manifest import Service, discover_services, load_service
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training.promotion import rolled_back_versions

READERS = 8
"""Services read at once: the stores answer over the network, so an overview waits for the slowest, not the sum."""


@dataclass
class Reader:
    """Reads the facts of services for the pages, from one set of stores."""

    settings: Settings
    stores: Stores
    probe: ApiProbe | None = None
    _loaded: dict[str, tuple[tuple[int, ...], Service]] = field(default_factory=dict)

    def load(self, name: str) -> Service:
        """The service, loaded again only once a file of its folder changed (validating a model class takes ms)."""
        directory = self.settings.services_dir / name
        stamp = _folder_stamp(directory)
        cached = self._loaded.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        service = load_service(name, self.settings.services_dir)
        self._loaded[name] = (stamp, service)
        return service

    def names(self) -> list[str]:
        return discover_services(self.settings.services_dir)

    def overview(self) -> list[ServiceFacts]:
        read = functools.partial(read_facts, load=self.load, stores=self.stores, probe=self.probe, summaries=True)
        names = self.names()
        with ThreadPoolExecutor(max_workers=min(READERS, max(1, len(names)))) as pool:
            return list(pool.map(read, names))

    def one(self, name: str) -> ServiceFacts:
        if name not in self.names():
            raise UnknownServiceError(f"no service {name!r} in the services folder")
        return read_facts(name, self.load, self.stores, self.probe)


def _folder_stamp(directory: Path) -> tuple[int, ...]:
    """The modification times and sizes of the folder's top-level files: what a change to the service touches."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        return tuple(n for e in entries if e.is_file() for n in (e.stat().st_mtime_ns, e.stat().st_size))
    except OSError:
        return ()


def number(value: float | None, digits: int = 4) -> str:
    """A metric as the page prints it; ``-`` when it was not measured."""
    return "-" if value is None else f"{value:.{digits}f}"


def overview_row(facts: ServiceFacts, now: datetime) -> dict[str, Any]:
    """One row of the overview table."""
    champion = facts.champion_record
    last = facts.last
    return {
        "facts": facts,
        "champion": facts.champion.version if facts.champion else None,
        "served_for": describe_duration(facts.champion.since if facts.champion else None, now),
        "holdout": number(charts.metric_of(champion, champion.metrics)) if champion else "-",
        "live": number(charts.live_of(champion)) if champion else "-",
        "live_labelled": (champion.live or {}).get("labelled", 0) if champion and champion.live else None,
        "drift": str((champion.drift or {}).get("verdict", "-")) if champion and champion.drift else "-",
        "last_outcome": describe_outcome(last) if last else "never retrained",
        "last_at": (last.finished_at or last.started_at) if last else None,
        "growth": describe_growth(facts, now),
        "spark": charts.sparkline(facts),
        "spark_text": charts.describe_sparkline(facts),
    }


def overview_context(reader: Reader) -> dict[str, Any]:
    """Everything the overview template shows, with each sparkline's data keyed by service."""
    now = datetime.now(UTC)
    rows = [overview_row(facts, now) for facts in reader.overview()]
    return {
        "rows": rows,
        "now": now.isoformat(timespec="seconds"),
        "charts": {f"spark-{row['facts'].name}": row["spark"] for row in rows},
    }


def service_context(reader: Reader, name: str) -> dict[str, Any]:
    """Everything a service's page shows: its row, plots, every version with lineage, moves, model card."""
    now = datetime.now(UTC)
    facts = reader.one(name)
    moved_by: dict[str, list[str]] = {}
    for event in facts.history:
        moved_by.setdefault(event.to_version, []).append(f"{event.action} by {event.actor or '-'} at {event.at}")
    rolled_back = rolled_back_versions(facts.history)
    versions = [
        {
            "record": v,
            "holdout": number(charts.metric_of(v, v.metrics)),
            "live": number(charts.live_of(v)),
            "outcome": describe_outcome(v),
            "moved_by": moved_by.get(v.version, []),
            "rolled_back": v.version in rolled_back,
            "is_champion": facts.champion is not None and facts.champion.version == v.version,
        }
        for v in reversed(facts.versions)
    ]
    examples = charts.examples_chart(facts, now)
    return {
        "row": overview_row(facts, now),
        "facts": facts,
        "versions": versions,
        "examples_points": list(zip(examples["x"], examples["y"], strict=True)),
        "metric_chart": charts.metric_chart(facts),
        "charts": {"metric": charts.metric_chart(facts), "examples": examples},
        "model_card": render_model_card(facts.service.directory / "README.md") if facts.service else "",
        "now": now.isoformat(timespec="seconds"),
    }
