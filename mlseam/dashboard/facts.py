"""What the dashboard shows of each service, read from the registry, examples and batch stores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mlseam.batchstore import BatchStore
from mlseam.batchstore.calls import call_aws
from mlseam.dashboard.code import CodeState, read_code_state
from mlseam.dashboard.probes import NOT_PROBED, ApiHealth, ApiProbe
from mlseam.errors import MlseamError
from mlseam.manifest import Service
from mlseam.registry import Champion, ChampionEvent, ModelVersion, Status, VersionSummary
from mlseam.stores import Stores

PENDING = "pending"
"""The status of a version awaiting approval, where the registry has one; compared by value so it needs none."""
GROWTH_DAYS = 30


VersionFacts = ModelVersion | VersionSummary
"""What the pages read of a version: a ModelVersion on a service's page, its VersionSummary on the overview."""


@dataclass(frozen=True)
class QueueState:
    """Chunks waiting or in flight on the service's batch queue, and chunks parked in its dead-letter queue."""

    depth: int | None
    dead_letters: int | None
    detail: str = ""


@dataclass
class ServiceFacts:
    """One service as the overview row and its page show it; ``error`` set when it could not be read."""

    name: str
    error: str | None = None
    service: Service | None = None
    champion: Champion | None = None
    versions: Sequence[VersionFacts] = field(default_factory=list)  # oldest first
    history: list[ChampionEvent] = field(default_factory=list)
    examples: int | None = None
    queue: QueueState = QueueState(None, None)
    api: ApiHealth = NOT_PROBED
    code: CodeState | None = None

    @property
    def primary_metric(self) -> str:
        return self.service.model_class.primary_metric if self.service else ""

    @property
    def champion_record(self) -> VersionFacts | None:
        if self.champion is None:
            return None
        return next((v for v in reversed(self.versions) if v.version == self.champion.version), None)

    @property
    def last(self) -> VersionFacts | None:
        return self.versions[-1] if self.versions else None

    @property
    def pending(self) -> list[str]:
        return [v.version for v in self.versions if v.status.value == PENDING]


def read_queue(batches: BatchStore | None, service: str) -> QueueState:
    """Approximate messages visible plus in flight, on the queue and on its dead-letter queue."""
    if batches is None:
        return QueueState(None, None, "no batch store")
    queue = batches.queue

    def count(dead_letter: bool) -> int:
        attributes = call_aws(
            queue.sqs,
            "get_queue_attributes",
            "reading the queue depth",
            QueueUrl=queue.queue_url(service, dead_letter=dead_letter),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        ).get("Attributes", {})
        return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    try:
        return QueueState(count(False), count(True))
    except MlseamError as exc:
        return QueueState(None, None, str(exc))


def read_facts(
    name: str,
    load: Callable[[str], Service],
    stores: Stores,
    probe: ApiProbe | None,
    *,
    with_queue: bool = True,
    summaries: bool = False,
) -> ServiceFacts:
    """Everything about ``name``: three registry reads whatever its number of versions, one examples count.

    ``load`` turns a name into a Service; a service that fails to load, or whose stores fail,
    still gets its facts, with the reason in ``error``. ``summaries``: versions as the overview
    shows them (VersionSummary), not their whole records.
    """
    facts = ServiceFacts(name)
    try:
        facts.service = load(name)
    except MlseamError as exc:
        facts.error = f"cannot load: {exc}"
        return facts
    service = facts.service
    try:
        registry = stores.registry
        versions = registry.list_version_summaries(name) if summaries else registry.list_versions(name)
        facts.versions = list(reversed(versions))
        facts.champion = stores.registry.get_champion(name)
        facts.history = stores.registry.history(name)
        facts.examples = stores.examples.stats(name, service.kind).count
    except MlseamError as exc:
        facts.error = f"stores unavailable: {exc}"
    if with_queue:
        facts.queue = read_queue(stores.batches, name)
    if probe is not None:
        facts.api = probe.check(name)
    facts.code = read_code_state(service.directory, service.manifest.owner, facts.last)
    return facts


def parse_time(iso: str | None) -> datetime | None:
    """An ISO-8601 time from a record, in UTC; None for none or a malformed one."""
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def describe_duration(since: str | None, now: datetime) -> str:
    """``3 d 4 h``, ``5 h 12 min`` or ``40 s`` from ``since`` to ``now``."""
    start = parse_time(since)
    if start is None:
        return "-"
    seconds = max(0, int((now - start).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{secs} s"


def describe_outcome(record: VersionFacts) -> str:
    """A retrain in words: ``promoted: +0.0550 macro_f1 ...: <reason>`` or ``kept: <reason>``."""
    words = record.status.value
    if record.gain and "delta" in record.gain and record.status is Status.PROMOTED:
        words += f": {record.gain['delta']:+.4f} {record.primary_metric}"
    return f"{words}: {record.reason}" if record.reason else words


def examples_read(record: VersionFacts) -> int:
    """How many examples a retrain read: its training and holdout rows."""
    return record.train_count + record.holdout_count


def describe_growth(facts: ServiceFacts, now: datetime) -> str:
    """Examples added over the last 30 days, against what the last retrain before then read."""
    if facts.examples is None:
        return "-"
    cutoff = now - timedelta(days=GROWTH_DAYS)
    finished = [v for v in facts.versions if v.status is not Status.RUNNING]
    # Newest first: only the versions of the last 30 days and one more have their times parsed.
    for record in reversed(finished):
        when = parse_time(record.started_at)
        if when is not None and when <= cutoff:
            return f"{facts.examples - examples_read(record):+d} in {GROWTH_DAYS} d"
    if finished:
        first_when = parse_time(finished[0].started_at)
        day = first_when.date().isoformat() if first_when else "?"
        return f"{facts.examples - examples_read(finished[0]):+d} since {day}"
    return f"{facts.examples:+d} (never retrained)"
