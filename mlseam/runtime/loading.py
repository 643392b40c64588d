"""Loading one version of a service's model: signature and sha256 checks, allow-listed unpickling, warm-up."""

from __future__ import annotations

from dataclasses import dataclass

from mlseam.artifacts import ArtifactStore, Signature
from mlseam.contract import Model
from mlseam.errors import ContractError, ModelOutputError
from mlseam.manifest import Service
from mlseam.registry import ModelVersion, Registry
from mlseam.runtime.codec import load_model
from mlseam.runtime.outputs import UnusableOutput, predict_outputs


@dataclass(frozen=True)
class LoadedModel:
    """A version loaded, checked and warmed up; replaced whole, never mutated."""

    version: str
    model: Model
    record: ModelVersion


def warm_up(service: Service, model: Model) -> None:
    """One prediction on a neutral input; a model that cannot predict is refused."""
    (output,) = predict_outputs(service, model, [service.kind.sample_input()])
    if isinstance(output, UnusableOutput):
        raise ModelOutputError(f"the model gave no finite prediction ({output.value}) for a neutral input")


def recorded_signature(record: ModelVersion) -> Signature | None:
    """The signature the registry holds for a version's artifact; None for a version registered unsigned."""
    if record.artifact_signature is None:
        return None
    return Signature(record.artifact_signature, record.artifact_signing_key or "")


def load_artifact(record: ModelVersion, artifacts: ArtifactStore) -> Model:
    """The model a version's artifact holds: its signature and sha256 checked, unpickled through the allow-list.

    Whatever class it is: a retrain still scores a champion whose service has moved to another class.
    """
    if not (record.artifact_key and record.artifact_sha256):
        raise ContractError(f"{record.service} {record.version} has no artifact")
    name = f"{record.service} {record.version}"
    data = artifacts.get_signed(record.artifact_key, record.artifact_sha256, recorded_signature(record), name=name)
    return load_model(data, service=record.service, where=name)


def load_version(service: Service, version: str, *, registry: Registry, artifacts: ArtifactStore) -> LoadedModel:
    """One version of ``service``'s model: signature- and sha256-checked, unpickled, type-checked, warmed up."""
    name = service.name
    record = registry.get_version(name, version)
    model = load_artifact(record, artifacts)
    if not isinstance(model, service.model_class):
        raise ContractError(
            f"{name} {record.version} holds a {type(model).__name__}, not {service.model_class.__name__}"
        )
    warm_up(service, model)
    return LoadedModel(record.version, model, record)
