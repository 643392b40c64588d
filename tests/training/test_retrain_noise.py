"""A retrain promotes only a gain larger than its holdout's noise (real stack: PostgreSQL, emulated AWS)."""

from __future__ import annotations

import numpy as np
import pytest

from builders import linear_examples, linear_service
from mlseam.manifest import Service, load_service
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer
from mlseam.training.split import holdout_mask


def _retrain(service: Service, stores: Stores, *, force: bool = False) -> Status:
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run(
        force=force
    )
    assert outcome.record is not None
    return outcome.record.status


def _holdout_x1(service: Service, stores: Stores) -> list[float]:
    """The x1 value of every holdout row, in id order."""
    data = stores.examples.read(service.name, service.kind).examples
    mask = holdout_mask(data.ids, service.name, service.manifest.holdout_fraction)
    return [float(v) for v in np.asarray(data.inputs)[mask, 0]]


def _misses(monkeypatch: pytest.MonkeyPatch, service: Service, values: list[float]) -> None:
    monkeypatch.setattr(service.model_class, "misses", frozenset(values))


def test_a_candidate_that_wins_by_one_row_of_a_small_holdout_is_not_promoted(
    settings: Settings, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a champion off by 1.0 on four rows of a holdout of about 40
    service = load_service(linear_service(settings.services_dir, "ListedMissesModel"), settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(160, seed=11, noise=0.0), source="t")
    holdout = _holdout_x1(service, stores)
    assert 25 <= len(holdout) <= 60
    _misses(monkeypatch, service, holdout[:4])
    assert _retrain(service, stores) == Status.PROMOTED

    # when: a candidate gets one of those rows right, and nothing else differs
    _misses(monkeypatch, service, holdout[:3])
    assert _retrain(service, stores, force=True) == Status.KEPT

    # then: its better rmse is named with an interval that includes no gain, and the champion stays
    record = max(stores.registry.list_versions(service.name), key=lambda version: version.number)
    assert record.metrics["rmse"] < record.champion_metrics["rmse"]  # type: ignore[index]
    assert record.reason.startswith("not better beyond noise: rmse"), record.reason
    assert "95% interval" in record.reason and f"on {len(holdout)} holdout rows" in record.reason
    assert record.gain is not None and record.gain["delta"] < 0 <= record.gain["high"]
    assert stores.registry.get_champion(service.name).version == "v1"  # type: ignore[union-attr]


def test_a_real_improvement_is_promoted_with_its_interval_in_the_reason(
    settings: Settings, stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a champion off on half the rows of a holdout of about 100
    service = load_service(linear_service(settings.services_dir, "ListedMissesModel"), settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(400, seed=12, noise=0.0), source="t")
    holdout = _holdout_x1(service, stores)
    _misses(monkeypatch, service, holdout[::2])
    assert _retrain(service, stores) == Status.PROMOTED

    # when: a candidate gets every row right
    _misses(monkeypatch, service, [])
    assert _retrain(service, stores, force=True) == Status.PROMOTED

    # then: the reason says the gain and an interval wholly below zero (rmse: lower is better)
    record = max(stores.registry.list_versions(service.name), key=lambda version: version.number)
    assert record.reason.startswith("better: rmse 0.0000 vs champion v1 0.7"), record.reason
    assert record.gain is not None and record.gain["low"] <= record.gain["delta"] <= record.gain["high"] < 0
    assert f"95% interval {record.gain['low']:+.3g}..{record.gain['high']:+.3g} on {len(holdout)}" in record.reason
    assert stores.registry.get_champion(service.name).version == "v2"  # type: ignore[union-attr]
