"""Turns a fitted model into artifact bytes and back, unpickling only the globals of the allow-list."""

from __future__ import annotations

import io
import pickle
from typing import Any

from mlseam.contract import Model
from mlseam.errors import ContractError, UntrustedArtifactError
from mlseam.runtime.allowlist import find_allowed

PROTOCOL = 5


class AllowListUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of the allow-list, refusing any other before it runs."""

    def __init__(self, data: bytes, *, service: str, where: str) -> None:
        super().__init__(io.BytesIO(data))
        self.service = service
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        return find_allowed(module, name, service=self.service, where=self.where)


def dump_model(model: Model, *, service: str) -> bytes:
    """The artifact bytes of a fitted model of ``service``, checked to load back through the allow-list."""
    name = type(model).__name__
    try:
        data = pickle.dumps(model, protocol=PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ContractError(
            f"{name} cannot be saved ({exc}); keep fitted state in plain attributes (no open files, locks or lambdas)"
        ) from exc
    try:
        load_model(data, service=service, where=name)
    except UntrustedArtifactError as exc:
        # Refused here rather than by every API later: the author can fix it, the platform cannot.
        raise ContractError(
            f"{exc}; keep fitted state in numpy arrays, scipy or scikit-learn objects and the service's own classes"
        ) from None
    return data


def load_model(data: bytes, *, service: str, where: str) -> Model:
    """A model of ``service`` from artifact bytes whose digest and signature the caller has verified."""
    try:
        model = AllowListUnpickler(data, service=service, where=where).load()
    except UntrustedArtifactError:
        raise
    except Exception as exc:
        raise ContractError(f"{where}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if not isinstance(model, Model):
        raise ContractError(f"{where}: holds a {type(model).__name__}, not an mlseam.Model")
    return model
