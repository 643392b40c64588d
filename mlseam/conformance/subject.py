"""What the rules examine: the service under check, and what the rules before built for the next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlseam.conformance.outcome import RuleFailure, summarise_exception
from mlseam.conformance.sample import Sample
from mlseam.contract import Model
from mlseam.manifest import Service


@dataclass
class Subject:
    """The service under check and what the rules built so far (each rule adds to it)."""

    name: str
    services_dir: Path
    service: Service | None = None
    model: Model | None = None
    sample: Sample | None = None
    metrics: dict[str, float] | None = None
    batch: list[Any] = field(default_factory=list)
    """Validated holdout inputs predicted together by ``predict is batch-first``."""
    expected: list[Any] = field(default_factory=list)
    """Their predictions (validated outputs), which a reloaded model must repeat."""

    @property
    def code_dir(self) -> Path | None:
        return self.service.directory if self.service is not None else None

    def loaded(self) -> tuple[Service, Model]:
        assert self.service is not None and self.model is not None  # noqa: S101 - rule order guarantees it
        return self.service, self.model

    def fitted(self) -> tuple[Service, Model, Sample]:
        assert self.sample is not None  # noqa: S101 - rule order guarantees it
        return *self.loaded(), self.sample

    def call(self, what: str, fn: Callable[..., Any], *args: Any, fix: str) -> Any:
        """``fn(*args)``; an exception from model code becomes one line naming it and the fix."""
        try:
            return fn(*args)
        except Exception as exc:
            raise RuleFailure(f"{what} raised {summarise_exception(exc, self.code_dir)}; {fix}") from exc


@dataclass(frozen=True)
class Rule:
    """A named property of the contract; it runs only once the rules in ``needs`` passed."""

    name: str
    check: Callable[[Subject], None]
    needs: tuple[str, ...] = ()
