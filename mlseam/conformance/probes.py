"""The rule that invalid inputs never reach predict: inputs made invalid, the platform's checks, a spy model."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import pydantic

from mlseam.conformance.outcome import RuleFailure
from mlseam.conformance.subject import Subject
from mlseam.contract import Model
from mlseam.errors import InvalidInputError
from mlseam.manifest import Service
from mlseam.runtime import predict_outputs
from mlseam.serving.schemas import build_schemas
from mlseam.tasks import Examples
from mlseam.tasks.base import field_path

Gate = Callable[[list[Any]], list[Any]]
"""Raw JSON inputs in, the inputs ``predict`` would get out; raises when it refuses them."""

_MAX_ITEMS = 100
"""Most inputs one probe request holds (each holds one or two)."""

_WRONG_INPUTS: list[tuple[str, Any]] = [
    ("null", None),
    ("a string", "not an input"),
    ("a number", 1.5),
    ("true", True),
    ("an empty list", []),
    ("an empty object", {}),
]
_BAD_NUMBERS: list[tuple[str, Any]] = [
    ("NaN", math.nan),
    ("infinity", math.inf),
    ("-infinity", -math.inf),
    ("1e300 (beyond any allowed range)", 1e300),
    ("a string", "7"),
    ("true", True),
    ("null", None),
]


@dataclass(frozen=True)
class Probe:
    """An input the task kind must refuse, and what is wrong with it in words."""

    description: str
    value: Any


def invalid_probes(valid: Any) -> list[Probe]:
    """Inputs that are invalid for any task kind whose valid input looks like ``valid`` (JSON):
    the wrong type, a bad number in place of its first number, ragged rows, a missing or extra key."""
    probes = [
        Probe(f"{label} instead of an input", value)
        for label, value in _WRONG_INPUTS
        # Another JSON type, or an empty list or object where a valid input has content.
        if _json_type(value) != _json_type(valid) or (valid and not value)
    ]
    path = _first_number(valid, [])
    if path is not None:
        where = field_path("input", path)
        probes += [
            Probe(f"{label} in place of the number at {where}", _replace(valid, path, bad))
            for label, bad in _BAD_NUMBERS
        ]
    if isinstance(valid, list) and len(valid) >= 2 and all(isinstance(row, list) and len(row) >= 2 for row in valid):
        ragged = copy.deepcopy(valid)
        ragged[-1].pop()
        probes.append(Probe("rows of unequal length (the last one a number short)", ragged))
    if isinstance(valid, dict) and valid:
        first = next(iter(valid))
        probes.append(Probe(f"an input without its {first!r} field", {k: v for k, v in valid.items() if k != first}))
        probes.append(Probe("an input with an unknown field 'not_a_field'", {**valid, "not_a_field": 1.0}))
    return probes


def input_gates(service: Service) -> list[tuple[str, Gate]]:
    """The routes by which inputs reach ``predict``, each checking them as the platform does."""
    kind = service.kind
    schemas = build_schemas(service, _MAX_ITEMS)

    def predict_api(values: list[Any]) -> list[Any]:
        # A lenient client may send NaN and Infinity tokens: json writes them, orjson would not.
        body = json.dumps({"inputs": values}).encode()
        fast = kind.fast_body(body, _MAX_ITEMS)
        if fast is not None:
            return fast
        parsed = schemas.predict_request.validate_json(body)
        return [kind.coerce_input(value, index=i) for i, value in enumerate(parsed.inputs)]

    def batches_and_examples(values: list[Any]) -> list[Any]:
        fast = kind.fast_inputs(values, orjson.dumps({"inputs": values}))
        if fast is not None:
            return fast
        return [kind.validate_input(value, index=i) for i, value in enumerate(values)]

    return [("the predict API", predict_api), ("batch and examples validation", batches_and_examples)]


def _json_type(value: Any) -> str:
    if value is None or isinstance(value, bool | str | list | dict):
        return type(value).__name__
    return "number" if isinstance(value, int | float) else type(value).__name__


def _first_number(value: Any, path: list[int | str]) -> list[int | str] | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return path
    children: Sequence[tuple[int | str, Any]] = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    for key, child in children:
        found = _first_number(child, [*path, key])
        if found is not None:
            return found
    return None


def _replace(value: Any, path: list[int | str], new: Any) -> Any:
    copied = copy.deepcopy(value)
    if not path:
        return new
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return copied


class PredictSpy(Model):
    """Stands in for a fitted model and records every batch that reaches its predictions."""

    task: ClassVar[str] = "spy"
    primary_metric: ClassVar[str] = "spy"

    def __init__(self, model: Model) -> None:
        self.model = model
        self.batches: list[Any] = []

    @property
    def classes(self) -> Any:
        return getattr(self.model, "classes", None)

    def fit(self, examples: Examples[Any]) -> None:
        self.model.fit(examples)

    def predict(self, inputs: Any) -> Sequence[Any]:
        self.batches.append(inputs)
        return self.model.predict(inputs)

    def predict_proba(self, inputs: Any) -> Any:
        self.batches.append(inputs)
        return self.model.predict_proba(inputs)

    def evaluate(self, examples: Examples[Any]) -> dict[str, float]:
        return self.model.evaluate(examples)


def invalid_inputs_never_reach_predict(subject: Subject) -> None:
    """The task kind refuses wrong types, shapes and non-finite numbers before the model sees them."""
    service, model, sample = subject.fitted()
    spy = PredictSpy(model)
    valid = sample.holdout_json[:2]
    routes = input_gates(service)
    for route, gate in routes:
        try:
            inputs = gate(valid)
        except (pydantic.ValidationError, InvalidInputError) as exc:
            raise RuleFailure(f"{route} refused valid demo inputs: {_first_error(exc)}") from exc
        # Whether the model predicts well is another rule's business; here only what reaches it counts.
        with contextlib.suppress(Exception):
            predict_outputs(service, spy, inputs)
    if len(spy.batches) < len(routes):
        raise RuleFailure("valid demo inputs never reached predict; the spy model saw no batch")
    seen = len(spy.batches)
    for probe in invalid_probes(valid[0]):
        for route, gate in routes:
            try:
                inputs = gate([probe.value])
            except Exception:  # noqa: BLE001, S112 - refused, well or badly: either way predict never sees it
                continue
            # The model may well fail on it: that it was handed the input is the fault.
            with contextlib.suppress(Exception):
                predict_outputs(service, spy, inputs)
            if len(spy.batches) > seen:
                raise RuleFailure(
                    f"{probe.description} got through {route} and reached predict; the task kind "
                    f"{service.kind.name} must refuse it first: tighten inputs: in service.yaml, or its validation"
                )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        error = exc.errors(include_url=False)[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)
