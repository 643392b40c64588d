"""The contract's rules, each a check on one service that raises RuleFailure saying how to fix it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlseam.artifacts import InMemoryArtifactStore
from mlseam.conformance.noise import holdout_tells_gains_from_noise
from mlseam.conformance.outcome import RuleFailure, summarise_exception
from mlseam.conformance.probes import invalid_inputs_never_reach_predict
from mlseam.conformance.sample import draw_sample
from mlseam.conformance.subject import Rule, Subject
from mlseam.contract import Model
from mlseam.errors import ContractError, ModelOutputError, QualityGateError, StoreError
from mlseam.manifest import load_service
from mlseam.registry import InMemoryRegistry, ModelVersion
from mlseam.runtime import UnusableOutput, load_version, predict_outputs, store_model
from mlseam.training import artifact_key, gates

_CANDIDATES = 40
"""Holdout inputs predicted one at a time while looking for a batch of distinct predictions."""
_BATCH = 8
"""Inputs predicted together to compare with one-at-a-time predictions."""


def loads_by_reference(subject: Subject) -> None:
    """The manifest's ``model: file.py:Class`` imports and is a valid mlseam.Model, made with no arguments."""
    try:
        service = load_service(subject.name, subject.services_dir)
    except ContractError as exc:
        raise RuleFailure(str(exc)) from exc
    subject.service = service
    name = service.model_class.__name__
    subject.model = subject.call(
        f"{name}()", service.new_model, fix="the platform creates the model with no arguments: give each a default"
    )


def fits_on_a_small_sample(subject: Subject) -> None:
    """``fit`` trains on a sample of the demo data, read and split as the retrain job does."""
    service, model = subject.loaded()
    sample = draw_sample(service)
    kind = type(service.kind).__name__
    subject.call(
        f"fit on {len(sample.train)} demo examples",
        model.fit,
        sample.train,
        fix=f"fit gets Examples: .inputs in the batch type of mlseam.tasks.{kind}, .labels a numpy array",
    )
    subject.sample = sample


def predict_is_batch_first(subject: Subject) -> None:
    """One valid output per input, in input order, the same alone as in a batch; an empty batch is fine."""
    service, model, sample = subject.fitted()
    chosen, alone = _distinct_predictions(subject, sample.holdout_inputs)
    together = _predict(subject, model, chosen)
    if not all(_same(a, b) for a, b in zip(alone, together, strict=True)):
        if _is_permutation(alone, together):
            raise RuleFailure(
                f"predict keeps order: one at a time, inputs 0-{len(chosen) - 1} give {_show(alone)}; predicted "
                f"together they gave {_show(together)}; return one prediction per input, in the same order"
            )
        i = next(i for i, (a, b) in enumerate(zip(alone, together, strict=True)) if not _same(a, b))
        raise RuleFailure(
            f"predict gives each input its own answer: input {i} alone gives {_format(alone[i])}, in a batch of "
            f"{len(chosen)} it gives {_format(together[i])}; predict each input independently of the rest of its batch"
        )
    _predict(subject, model, [])
    try:
        served = predict_outputs(service, model, chosen) + predict_outputs(service, model, [])
    except ModelOutputError as exc:
        raise RuleFailure(f"the API's answer: {exc}") from exc
    except Exception as exc:
        what = "predict_proba" if type(model).predict_proba is not Model.predict_proba else "predict"
        raise RuleFailure(f"{what} raised {summarise_exception(exc, subject.code_dir)} when the API called it") from exc
    unusable = [i for i, output in enumerate(served) if isinstance(output, UnusableOutput)]
    if unusable:
        raise RuleFailure(
            f"the API's answer: demo input {unusable[0]} got no finite prediction ({served[unusable[0]].value}); "
            "return finite numbers for inputs like the training data"
        )
    subject.batch, subject.expected = chosen, together


def evaluate_returns_finite_metrics(subject: Subject) -> None:
    """``evaluate`` on the holdout returns every metric, the primary one included, as a finite number."""
    service, model, sample = subject.fitted()
    primary = service.model_class.primary_metric
    hint = f"evaluate must return a dict of finite numbers, such as {{{primary!r}: 0.9}}"
    raw = subject.call(f"evaluate on {len(sample.holdout)} holdout examples", model.evaluate, sample.holdout, fix=hint)
    try:
        metrics = gates.check_metrics(raw, primary, who="this model's")
    except QualityGateError as exc:
        raise RuleFailure(f"{exc}; {hint}") from exc
    odd = {k: v for k, v in raw.items() if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number)}
    if odd:
        name, value = next(iter(odd.items()))
        raise RuleFailure(f"metric {name!s} is {value!r} ({type(value).__name__}), not a number; {hint}")
    subject.metrics = metrics


def is_better_follows_the_direction(subject: Subject) -> None:
    """``is_better`` never prefers an equal model, prefers a clearly better one and refuses a clearly worse one."""
    service, model = subject.loaded()
    cls = service.model_class
    primary, higher, gap = cls.primary_metric, cls.higher_is_better, cls.min_improvement
    ours = dict(subject.metrics) if subject.metrics else {primary: 0.5}
    step = gap + max(0.1 * abs(ours[primary]), 0.01)
    worse = {**ours, primary: ours[primary] - step if higher else ours[primary] + step}
    direction = f"{'higher' if higher else 'lower'} is better (higher_is_better = {higher})"
    fix = f"compare {primary!r} in that direction, or delete is_better to use the default rule"

    def ask(candidate: dict[str, float], champion: dict[str, float]) -> bool:
        answer = subject.call("is_better", model.is_better, dict(candidate), dict(champion), fix=fix)
        if not isinstance(answer, bool | np.bool_):
            raise RuleFailure(f"is_better returned {answer!r}; return True or False")
        return bool(answer)

    if ask(ours, ours):
        raise RuleFailure(
            f"is_better(m, m) is True for m = {_show_metrics(ours)}: a model must never replace an equal champion; "
            f"require an improvement of more than min_improvement ({gap})"
        )
    mine, theirs = f"{ours[primary]:.4g}", f"{worse[primary]:.4g}"
    if not ask(ours, worse):
        raise RuleFailure(f"{direction}, yet a candidate with {primary} {mine} lost to a champion with {theirs}; {fix}")
    if ask(worse, ours):
        raise RuleFailure(f"{direction}, yet a candidate with {primary} {theirs} beat a champion with {mine}; {fix}")


def artifact_round_trips(subject: Subject) -> None:
    """Saved and loaded as the retrain job and the API do (sha256 checked), it predicts the same."""
    service, model, _ = subject.fitted()
    registry, artifacts = InMemoryRegistry(), InMemoryArtifactStore()
    record = ModelVersion(service=service.name, number=registry.allocate_version(service.name))
    registry.create_version(record)
    try:
        store_model(record, model, artifacts, artifact_key("artifacts", service.name, record.version))
    except ContractError as exc:
        raise RuleFailure(str(exc)) from exc
    registry.update_version(record)
    try:
        loaded = load_version(service, record.version, registry=registry, artifacts=artifacts).model
    except (ContractError, ModelOutputError, StoreError) as exc:
        raise RuleFailure(f"the saved model does not load as the API loads it: {exc}") from exc
    except Exception as exc:
        raise RuleFailure(
            f"the saved model, once loaded, raised {summarise_exception(exc, subject.code_dir)}; "
            "keep everything predict needs in attributes that pickle"
        ) from exc
    again = _predict(subject, loaded, subject.batch)
    if not all(_same(a, b) for a, b in zip(subject.expected, again, strict=True)):
        raise RuleFailure(
            f"saved and loaded, the model predicts {_show(again)} instead of {_show(subject.expected)}; keep all "
            "fitted state in the model's own attributes (not in globals or files)"
        )


RULES: tuple[Rule, ...] = (
    Rule("loads by reference", loads_by_reference),
    Rule("fits on a small sample", fits_on_a_small_sample, ("loads by reference",)),
    Rule("predict is batch-first", predict_is_batch_first, ("fits on a small sample",)),
    Rule("evaluate returns finite metrics", evaluate_returns_finite_metrics, ("fits on a small sample",)),
    Rule("is_better follows the declared direction", is_better_follows_the_direction, ("loads by reference",)),
    Rule("artifact round-trips", artifact_round_trips, ("fits on a small sample", "predict is batch-first")),
    Rule("invalid inputs never reach predict", invalid_inputs_never_reach_predict, ("fits on a small sample",)),
    Rule("holdout tells gains from noise", holdout_tells_gains_from_noise, ("evaluate returns finite metrics",)),
)
"""Every rule, in the order they run and are reported."""


def _predict(subject: Subject, model: Model, inputs: list[Any]) -> list[Any]:
    """``model.predict`` on ``inputs`` as one batch, its outputs checked by the task kind."""
    kind = subject.loaded()[0].kind
    size = {0: "an empty batch", 1: "a batch of one"}.get(len(inputs), f"a batch of {len(inputs)}")
    fix = "return [] when there are no inputs" if not inputs else "predict gets a whole batch and returns a list"
    raw = subject.call(f"predict on {size}", model.predict, kind.to_batch(inputs), fix=fix)
    try:
        items = kind.output_items(raw, len(inputs))
    except ModelOutputError as exc:
        raise RuleFailure(f"predict keeps length: on {size}, {exc}") from exc
    try:
        return [kind.validate_output(item, index=i) for i, item in enumerate(items)]
    except ModelOutputError as exc:
        raise RuleFailure(
            f"predict returns {kind.name} outputs: {exc}; the API answers each as its `{kind.output_field}`"
        ) from exc


def _distinct_predictions(subject: Subject, inputs: list[Any]) -> tuple[list[Any], list[Any]]:
    """Up to ``_BATCH`` inputs, those with distinct predictions first (so a reordering shows)."""
    _, model = subject.loaded()
    distinct: list[tuple[Any, Any]] = []
    others: list[tuple[Any, Any]] = []
    for item in inputs[:_CANDIDATES]:
        (output,) = _predict(subject, model, [item])
        (others if any(_same(output, o) for _, o in distinct) else distinct).append((item, output))
        if len(distinct) == _BATCH:
            break
    chosen = (distinct + others)[:_BATCH]
    return [item for item, _ in chosen], [output for _, output in chosen]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return bool(a == b)


def _is_permutation(expected: list[Any], actual: list[Any]) -> bool:
    left = list(expected)
    for value in actual:
        match = next((i for i, other in enumerate(left) if _same(value, other)), None)
        if match is None:
            return False
        left.pop(match)
    return not left


def _format(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _show(values: list[Any]) -> str:
    shown = [_format(v) for v in values[:_BATCH]]
    return "[" + ", ".join(shown) + (", ...]" if len(values) > _BATCH else "]")


def _show_metrics(metrics: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.4g}" for k, v in metrics.items()) + "}"
