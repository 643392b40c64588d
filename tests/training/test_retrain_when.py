"""retrain_when on the real stack: a scheduled retrain fits only when a declared condition holds."""

from __future__ import annotations

from builders import linear_examples, linear_service
from mlseam.manifest import Service, load_service
from mlseam.registry import Status
from mlseam.settings import Settings
from mlseam.stores import Stores
from mlseam.training import Retrainer


def _retrain(service: Service, stores: Stores) -> Status:
    outcome = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts).run()
    assert outcome.record is not None
    return outcome.record.status


def test_retrain_when_new_examples_fits_only_once_enough_arrived(settings: Settings, stores: Stores) -> None:
    # given: a service that asks for 100 new examples before a scheduled retrain fits again
    name = linear_service(settings.services_dir, retrain_when={"new_examples": 100})
    service = load_service(name, settings.services_dir)
    stores.examples.add(service.name, service.kind, linear_examples(200, seed=21), source="t")
    assert _retrain(service, stores) == Status.PROMOTED

    # when: 60 arrive, the retrain is not due, says so and adds no version
    stores.examples.add(service.name, service.kind, linear_examples(60, seed=22), source="t")
    retrainer = Retrainer(service, examples=stores.examples, registry=stores.registry, artifacts=stores.artifacts)
    outcome = retrainer.run()
    assert outcome.record is None and outcome.exit_code == 0
    assert outcome.summary == (
        f"{name}: not due: 60 new examples since champion v1 (retrain_when.new_examples: 100); "
        "its model is unchanged; champion kept, no version added"
    )
    assert len(stores.registry.list_versions(service.name)) == 1

    # then: 50 more make 110, and the candidate it fits records that condition as its trigger
    stores.examples.add(service.name, service.kind, linear_examples(50, seed=23), source="t")
    outcome = retrainer.run()
    assert outcome.record is not None
    assert outcome.record.trigger == "110 new examples since champion v1 (retrain_when.new_examples: 100)"
