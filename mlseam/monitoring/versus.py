"""The challenger against the champion on labelled shadowed requests: both ``evaluate``d, its ``is_better`` decides.

Both models score the same inputs (the requests both answered that later got a label), so the
comparison is paired as a retrain's is. It is decided once ``shadow.min_labelled`` of them are
labelled; a version waiting in shadow (``shadow.auto_after_shadow``) is then promoted or rejected.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from mlseam.artifacts import ArtifactStore
from mlseam.errors import InvalidInputError, MlseamError, QualityGateError
from mlseam.events import NO_EVENTS, EventPublisher
from mlseam.manifest import Service
from mlseam.monitoring.live import LabelledPrediction, as_examples
from mlseam.registry import ModelVersion, Registry
from mlseam.registry.records import now_iso
from mlseam.runtime import load_artifact
from mlseam.training import gates
from mlseam.training.decision import waits_for_shadow
from mlseam.training.promotion import approve, reject

log = logging.getLogger("mlseam.monitor")

MONITOR_ACTOR = "monitor"
"""Who the champion history and the events say decided a version that waited in shadow."""


def paired_in_shadow(labelled: list[LabelledPrediction], champion: str) -> dict[str, list[LabelledPrediction]]:
    """Each challenger's labelled shadow predictions of inputs ``champion`` answered too, by challenger version."""
    answered_by = {item.prediction.prediction_id: item.prediction.version for item in labelled}
    pairs: dict[str, list[LabelledPrediction]] = {}
    for item in labelled:
        shadow_of = item.prediction.shadow_of
        if shadow_of is not None and answered_by.get(shadow_of) == champion:
            pairs.setdefault(item.prediction.version, []).append(item)
    return pairs


def compare_labelled(
    service: Service,
    challenger: ModelVersion,
    champion: ModelVersion,
    labelled: list[LabelledPrediction],
    artifacts: ArtifactStore,
) -> dict[str, Any]:
    """Both versions' ``evaluate`` on the same labelled inputs and the challenger's ``is_better`` on them."""
    primary = challenger.primary_metric
    rows = as_examples(service, labelled)
    needs = service.manifest.shadow.min_labelled
    result: dict[str, Any] = {"champion": champion.version, "labelled": len(rows), "needs": needs}
    result["measured_at"] = now_iso()
    try:
        mine, theirs = load_artifact(challenger, artifacts), load_artifact(champion, artifacts)
        metrics = gates.check_metrics(mine.evaluate(rows), primary, who=f"{challenger.version} on shadow labels")
        champion_metrics = gates.check_metrics(theirs.evaluate(rows), primary, who=f"{champion.version} on them")
        better = bool(mine.is_better(metrics, champion_metrics))
    except (QualityGateError, InvalidInputError) as exc:
        return {**result, "error": str(exc), "decided": False}
    except Exception as exc:
        log.warning("%s %s: the shadow comparison raised", service.name, challenger.version, exc_info=True)
        return {**result, "error": f"evaluate raised {type(exc).__name__}: {exc}", "decided": False}
    result["metrics"] = {name: float(value) for name, value in metrics.items() if math.isfinite(value)}
    result["champion_metrics"] = {name: float(v) for name, v in champion_metrics.items() if math.isfinite(v)}
    return {**result, "better": better, "decided": len(rows) >= needs}


def describe_versus(primary: str, versus: dict[str, Any]) -> str:
    """``on 240 labelled shadowed requests: rmse 0.1002 vs champion v1 0.1100; better (decided, needs 200)``."""
    where = f"on {versus['labelled']} labelled shadowed requests"
    if "error" in versus:
        return f"{where}: not compared: {versus['error']}"
    mine = versus.get("metrics", {}).get(primary)
    theirs = versus.get("champion_metrics", {}).get(primary)
    scores = f"{primary} {mine:.4f} vs champion {versus['champion']} {theirs:.4f}" if None not in (mine, theirs) else ""
    verdict = "better by its is_better" if versus.get("better") else "not better by its is_better"
    decided = "decided" if versus.get("decided") else f"not decided yet: needs {versus['needs']}"
    return f"{where}: {scores}; {verdict} ({decided})"


def decide_in_shadow(
    registry: Registry,
    artifacts: ArtifactStore,
    record: ModelVersion,
    versus: dict[str, Any],
    *,
    events: EventPublisher = NO_EVENTS,
) -> str | None:
    """Promote or reject a version waiting in shadow once its comparison is decided; the line saying so."""
    if not waits_for_shadow(record) or not versus.get("decided"):
        return None
    service, version = record.service, record.version
    primary = record.primary_metric
    evidence = describe_versus(primary, versus)
    try:
        if versus.get("better"):
            approve(registry, artifacts, service, version, actor=MONITOR_ACTOR, events=events)
            return f"{service} {version}: won in shadow {evidence}; promoted"
        reject(registry, service, version, reason=f"lost in shadow {evidence}", actor=MONITOR_ACTOR, events=events)
    except MlseamError as exc:
        return f"{service} {version}: decided in shadow, but not settled: {exc}"
    return f"{service} {version}: lost in shadow {evidence}; rejected"
