"""A version's drift reference: its training inputs and holdout outputs profiled, stored next to its model."""

from __future__ import annotations

import logging
import posixpath
import time
from typing import Any

import numpy as np

from mlseam.artifacts import ArtifactStore
from mlseam.contract import Model
from mlseam.drift import Profile, ReferenceProfile, profile_inputs, profile_outputs
from mlseam.manifest import Service
from mlseam.registry import ModelVersion
from mlseam.tasks import Examples
from mlseam.training.lineage import artifact_key

log = logging.getLogger("mlseam.retrain")

PROFILE_SAMPLE = 20_000
"""Most training rows (and holdout rows) profiled: the shares of a larger sample barely move."""


def profile_key(prefix: str, service: str, version: str) -> str:
    """The S3 key of a version's profile: ``profile.json`` beside its model artifact."""
    return posixpath.join(posixpath.dirname(artifact_key(prefix, service, version)), "profile.json")


def sample_examples(examples: Examples[Any], limit: int = PROFILE_SAMPLE) -> Examples[Any]:
    """At most ``limit`` of ``examples``, the same ones on every run, in their order."""
    if len(examples) <= limit:
        return examples
    mask = np.zeros(len(examples), dtype=bool)
    mask[np.random.default_rng(0).choice(len(examples), size=limit, replace=False)] = True
    return examples.subset(mask)


def profile_training_inputs(service: Service, train: Examples[Any]) -> Profile | None:
    """The profile of (a sample of) ``train``'s inputs; None, logged, when it cannot be made.

    Taken right after the fit, so the training rows can be freed before the evaluations.
    """
    try:
        return profile_inputs(service.kind, sample_examples(train).inputs)
    except Exception:  # whatever the data held, the retrain goes on without a profile
        log.warning("%s: no drift profile of the training inputs", service.name, exc_info=True)
        return None


def store_profile(
    record: ModelVersion,
    service: Service,
    inputs: Profile | None,
    candidate: Model,
    holdout: Examples[Any],
    artifacts: ArtifactStore,
    prefix: str,
) -> None:
    """Store ``inputs`` with the profile of what ``candidate`` predicts on ``holdout`` beside its
    model artifact (under ``prefix``), and record the profile's key and sha256 on ``record``.

    Drift is looked at later, so a profile that cannot be made or stored never fails the retrain:
    it is logged and the version records no profile.
    """
    if inputs is None:
        return
    started = time.perf_counter()
    try:
        sample = sample_examples(holdout)
        outputs = service.kind.validate_outputs(candidate.predict(sample.inputs), len(sample))
        reference = ReferenceProfile(inputs=inputs, outputs=profile_outputs(service.kind, outputs))
        stored = artifacts.put(profile_key(prefix, record.service, record.version), reference.to_json())
    except Exception:  # whatever the model or the store raised, the retrain goes on
        log.warning("%s %s: no drift profile recorded", record.service, record.version, exc_info=True)
        return
    record.profile_key, record.profile_sha256 = stored.key, stored.sha256
    record.timings["profile_s"] = round(time.perf_counter() - started, 3)
    log.info("%s: stored the drift profile %s (%d bytes)", record.service, stored.key, stored.size)


def load_profile(record: ModelVersion, artifacts: ArtifactStore) -> ReferenceProfile | None:
    """The profile ``record`` stored, sha256-checked; None when it recorded none."""
    if record.profile_key is None or record.profile_sha256 is None:
        return None
    return ReferenceProfile.from_json(artifacts.get(record.profile_key, record.profile_sha256))
