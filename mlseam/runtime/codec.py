"""Turns a fitted model into artifact bytes and back; the digest is checked before unpickling."""

from __future__ import annotations

import pickle

from mlseam.contract import Model
from mlseam.errors import ContractError

PROTOCOL = 5


def dump_model(model: Model) -> bytes:
    """The artifact bytes of a fitted model."""
    try:
        return pickle.dumps(model, protocol=PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ContractError(
            f"{type(model).__name__} cannot be saved ({exc}); keep fitted state in plain attributes "
            "(no open files, locks or lambdas)"
        ) from exc


def load_model(data: bytes, *, where: str) -> Model:
    """A model from artifact bytes the caller has already verified against the registry."""
    try:
        model = pickle.loads(data)  # noqa: S301 - digest verified by the caller
    except Exception as exc:
        raise ContractError(f"{where}: cannot be loaded ({type(exc).__name__}: {exc})") from exc
    if not isinstance(model, Model):
        raise ContractError(f"{where}: holds a {type(model).__name__}, not an mlseam.Model")
    return model
