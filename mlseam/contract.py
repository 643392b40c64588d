"""The ML side's contract: one ``Model`` subclass per service, and the rule that compares two."""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mlseam.errors import ContractError
from mlseam.tasks import TASK_KINDS, Examples
from mlseam.tasks.scores import RowScores

Metrics = Mapping[str, float]
"""Metric name to value, as returned by ``Model.evaluate``."""


class Model(ABC):
    """Subclass once per service; the platform does storage, versioning, serving and promotion.

    Declare on the class:

    - ``task``: the task kind name (one of ``mlseam.tasks.TASK_KINDS``: ``"image_classification"``,
      ``"tabular_classification"``, ``"tabular_regression"``, ``"ocr"``, ``"text_detection"``), the
      same as ``task`` in the service's ``service.yaml``;
    - ``primary_metric``: the key of ``evaluate``'s result that decides promotion;
    - ``higher_is_better``: the primary metric's direction (default ``True``);
    - ``min_improvement``: how much better a candidate must be to replace the champion;
    - ``params``: hyper-parameters, recorded with every version for lineage.

    Implement ``fit``, a batch-first ``predict`` and ``evaluate``; override ``is_better`` only
    when the primary metric alone cannot decide, ``predict_proba`` when a classifier can say
    how sure it is, and ``row_scores`` when the primary metric is not one the platform knows.
    Models are pickled by the platform, so keep fitted state in attributes.
    """

    task: ClassVar[str]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    min_improvement: ClassVar[float] = 0.0
    params: ClassVar[Mapping[str, Any]] = {}

    @abstractmethod
    def fit(self, examples: Examples[Any]) -> None:
        """Train on ``examples`` (inputs in the task kind's batch type, labels as an array)."""

    @abstractmethod
    def predict(self, inputs: Any) -> Sequence[Any]:
        """One output per input, in input order, for a whole batch (possibly empty)."""

    def predict_proba(self, inputs: Any) -> Any:
        """Classification only, optional: each label's probability, per input.

        Return an array of shape ``(len(inputs), len(self.classes))`` whose column ``j`` is the
        probability of label ``self.classes[j]`` (set ``classes`` when fitting, like
        scikit-learn's ``classes_``). When defined, the API calls this instead of ``predict``
        and answers each input's most probable label with ``"probabilities": {"3": 0.91, ...}``;
        a retrain refuses a candidate whose ``predict`` disagrees with that on the holdout.
        The default returns ``None``: the model has no probabilities.
        """
        return None

    @abstractmethod
    def evaluate(self, examples: Examples[Any]) -> dict[str, float]:
        """Metrics on ``examples``; must contain ``primary_metric`` as a finite number."""

    def row_scores(self, examples: Examples[Any]) -> RowScores | None:
        """Each example's counts behind ``primary_metric`` on ``examples`` (see ``mlseam.RowScores``).

        The platform resamples a holdout's rows with them to tell a real improvement from the
        noise of a small holdout, without running the model again. The default knows the common
        metrics by name and computes them from ``predict``: ``accuracy`` and ``macro_f1`` for
        classification kinds, ``rmse``, ``mse``, ``mae`` and ``r2`` for regression, ``cer``,
        ``wer`` and ``accuracy`` for ocr, ``f1``, ``precision`` and ``recall`` of boxes for
        text detection, and returns None for any other name. Override it for
        another primary metric, e.g. ``return mlseam.RowScores.mean(per_example_values)``; its
        value over all rows must equal what ``evaluate`` returns for ``primary_metric``.
        """
        kind = TASK_KINDS[self.task]
        return kind.row_scores(self.primary_metric, examples.labels, self.predict(examples.inputs))

    def is_better(self, candidate: Metrics, champion: Metrics) -> bool:
        """Whether ``candidate`` should replace ``champion``; both measured on the same holdout.

        The default compares ``primary_metric`` in its declared direction and requires at
        least ``min_improvement``; a champion without a finite primary metric always loses.
        When it is not overridden, the platform also requires the gain to be larger than the
        holdout's noise (a paired bootstrap over the holdout rows, from ``row_scores``).
        """
        new = candidate[self.primary_metric]
        old = champion.get(self.primary_metric, math.nan)
        if not math.isfinite(old):
            return math.isfinite(new)
        if self.higher_is_better:
            return new > old + self.min_improvement
        return new < old - self.min_improvement


_METHODS = {
    # how the platform calls each method: the number of arguments after self, and how to declare it
    "fit": (1, "fit(self, examples) -> None"),
    "predict": (1, "predict(self, inputs) -> list of outputs"),
    "evaluate": (1, "evaluate(self, examples) -> dict[str, float]"),
    "predict_proba": (1, "predict_proba(self, inputs) -> array"),
    "is_better": (2, "is_better(self, candidate, champion) -> bool"),
    "row_scores": (1, "row_scores(self, examples) -> mlseam.RowScores | None"),
}
_REQUIRED_METHODS = ("fit", "predict", "evaluate")


def _check_callable_as(cls: type, method: str, *, where: str) -> None:
    """ContractError unless ``cls().method(*args)`` can bind the arguments the platform passes."""
    attribute = inspect.getattr_static(cls, method)
    if isinstance(attribute, staticmethod | classmethod):
        function = getattr(cls, method)
        extra = 0
    else:
        function = attribute
        extra = 1  # self
    arguments, declaration = _METHODS[method]
    if not callable(function):
        raise ContractError(f"{where}: {method} is {type(function).__name__}, not a method; define `{declaration}`")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # a builtin without a signature: nothing to check
    try:
        signature.bind(*([None] * (arguments + extra)))
    except TypeError:
        raise ContractError(
            f"{where}: {method}{signature} cannot be called as `{declaration}`; fix its parameters"
        ) from None


def _check_constructible(cls: type, *, where: str) -> None:
    """ContractError unless ``cls()`` binds: the platform creates every candidate without arguments."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    try:
        signature.bind()
    except TypeError:
        raise ContractError(
            f"{where}: __init__{signature} needs arguments, but the platform creates the model as "
            f"`{cls.__name__}()`; give every parameter a default or move it to params"
        ) from None


def validate_model_class(cls: object, *, where: str, task: str | None = None) -> type[Model]:
    """``cls`` if it honours the contract, else ContractError naming ``where`` and the rule."""
    if not (inspect.isclass(cls) and issubclass(cls, Model)):
        raise ContractError(f"{where}: is not a subclass of mlseam.Model; declare `class X(mlseam.Model)`")
    for method in _REQUIRED_METHODS:
        if getattr(getattr(cls, method, None), "__isabstractmethod__", False):
            raise ContractError(f"{where}: missing method {method}; define `{_METHODS[method][1]}`")
    for method in _METHODS:
        _check_callable_as(cls, method, where=where)
    _check_constructible(cls, where=where)
    declared_task = getattr(cls, "task", None)
    if declared_task not in TASK_KINDS:
        raise ContractError(
            f"{where}: task = {declared_task!r} is not a task kind; use one of {', '.join(sorted(TASK_KINDS))}"
        )
    if task is not None and declared_task != task:
        raise ContractError(f"{where}: task = {declared_task!r} but service.yaml says task: {task}; make them agree")
    primary = getattr(cls, "primary_metric", None)
    if not isinstance(primary, str) or not primary:
        raise ContractError(f"{where}: primary_metric must be the name of a metric evaluate returns")
    if not isinstance(cls.higher_is_better, bool):
        raise ContractError(f"{where}: higher_is_better must be True or False")
    gap = cls.min_improvement
    if isinstance(gap, bool) or not isinstance(gap, int | float) or not math.isfinite(gap) or gap < 0:
        raise ContractError(f"{where}: min_improvement must be a finite number >= 0, got {gap!r}")
    if not isinstance(cls.params, Mapping):
        raise ContractError(f"{where}: params must be a dict of hyper-parameters")
    return cls


_DEFAULT_IS_BETTER = Model.is_better


def overrides_is_better(model: Model) -> bool:
    """Whether the model decides promotion itself (then the platform's noise test does not apply).

    Compared with the rule defined here, so a rule patched onto ``Model`` itself counts as the model's own.
    """
    return getattr(type(model), "is_better", _DEFAULT_IS_BETTER) is not _DEFAULT_IS_BETTER
