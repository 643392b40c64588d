"""How a conformance check reads: each rule's outcome, the whole report, a model's error in one line."""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mlseam.errors import ContractError

_MAX_DETAIL = 200
"""Longest exception text quoted in a message; the rest is cut."""


class RuleFailure(ContractError):  # noqa: N818 - a verdict, not an error of the checker
    """A conformance rule the model breaks; the message says what happened and how to fix it, in one line."""


class RuleWarning(ContractError):  # noqa: N818 - a verdict, not an error of the checker
    """A rule the model passes with a caveat worth a look; the message says what and what to do, in one line."""


class RuleVerdict(StrEnum):
    """What became of one rule."""

    PASS = "PASS"  # noqa: S105 - a verdict, not a password
    FAIL = "FAIL"
    SKIP = "SKIP"
    """Not run: a rule it builds on failed."""
    WARN = "WARN"
    """Passed, with a caveat in its message."""


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome; ``message`` explains a failure or a skip."""

    rule: str
    status: RuleVerdict
    message: str = ""

    def line(self) -> str:
        """``PASS  loads by reference`` or ``FAIL  <rule>: <what broke and how to fix it>``."""
        head = f"{self.status.value}  {self.rule}"
        return f"{head}: {self.message}" if self.message else head


@dataclass(frozen=True)
class Report:
    """Every rule's outcome for one service, in rule order."""

    service: str
    results: tuple[RuleResult, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        """Whether every rule passed (a warning passes)."""
        return all(result.status in (RuleVerdict.PASS, RuleVerdict.WARN) for result in self.results)

    def result(self, rule: str) -> RuleResult:
        """The outcome of the rule named ``rule``."""
        for result in self.results:
            if result.rule == rule:
                return result
        raise KeyError(rule)

    def summary(self) -> str:
        """One closing line: all passed, or which rules failed."""
        total = len(self.results)
        failed = [r.rule for r in self.results if r.status is RuleVerdict.FAIL]
        skipped = sum(r.status is RuleVerdict.SKIP for r in self.results)
        warned = sum(r.status is RuleVerdict.WARN for r in self.results)
        took = f"{self.seconds:.1f}s"
        if not failed:
            caveats = f", {warned} with a warning" if warned else ""
            return f"{self.service}: all {total} rules pass{caveats} ({took})"
        not_run = f", {skipped} not run" if skipped else ""
        return f"{self.service}: {len(failed)} of {total} rules fail ({', '.join(failed)}){not_run} ({took})"

    def lines(self) -> list[str]:
        """One line per rule, then the summary."""
        return [*(result.line() for result in self.results), self.summary()]


def summarise_exception(exc: BaseException, code_dir: Path | None = None) -> str:
    """``ValueError: bad shape (model.py:12 in predict)``: the error and, when it is in
    ``code_dir`` (the service's folder), the line of the author's code that raised it."""
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else ""
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 3] + "..."
    text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if code_dir is not None:
        root = os.path.abspath(code_dir) + os.sep
        own = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename).startswith(root)]
        if own:
            text += f" ({Path(own[-1].filename).name}:{own[-1].lineno} in {own[-1].name})"
    return text
