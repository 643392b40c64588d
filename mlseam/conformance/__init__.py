"""The conformance suite: checks, in memory, that a service's model honours the mlseam.Model contract.

``mlseam check <service>`` and the test suite run the same ``RULES`` on a small sample of the
service's demo data, with no database and no AWS: every rule says, when it fails, what broke
and how to fix it.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from mlseam.conformance.outcome import (
    Report,
    RuleFailure,
    RuleResult,
    RuleVerdict,
    RuleWarning,
    summarise_exception,
)
from mlseam.conformance.rules import RULES
from mlseam.conformance.subject import Rule, Subject
from mlseam.errors import ManifestError, UnknownServiceError

__all__ = ["RULES", "Report", "Rule", "RuleFailure", "RuleResult", "RuleVerdict", "RuleWarning", "check_service"]


def check_service(name: str, services_dir: Path) -> Report:
    """Run every rule on the service ``name`` of ``services_dir``.

    An unknown service or a broken ``service.yaml`` raises (UnknownServiceError, ManifestError);
    everything the model does wrong is a failed rule in the report.
    """
    subject = Subject(name=name, services_dir=services_dir)
    started = time.perf_counter()
    results: list[RuleResult] = []
    # A model's warnings (convergence and the like) do not break the contract, and under a
    # warnings-as-errors filter they would pass for failures of the rule that triggered them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rule in RULES:
            results.append(_run(rule, subject, {r.rule: r.status for r in results}))
    return Report(service=name, results=tuple(results), seconds=time.perf_counter() - started)


def _run(rule: Rule, subject: Subject, done: dict[str, RuleVerdict]) -> RuleResult:
    unmet = [need for need in rule.needs if done.get(need) not in (RuleVerdict.PASS, RuleVerdict.WARN)]
    if unmet:
        return RuleResult(rule.name, RuleVerdict.SKIP, f"not run: needs {', '.join(unmet)}")
    try:
        rule.check(subject)
    except RuleFailure as failure:
        return RuleResult(rule.name, RuleVerdict.FAIL, str(failure))
    except RuleWarning as caveat:
        return RuleResult(rule.name, RuleVerdict.WARN, str(caveat))
    except (UnknownServiceError, ManifestError):
        raise  # the service cannot even be read: the caller's mistake, not a broken rule
    except Exception as exc:  # noqa: BLE001 - whatever model code raises is that rule's failure
        return RuleResult(rule.name, RuleVerdict.FAIL, f"unexpected {summarise_exception(exc, subject.code_dir)}")
    return RuleResult(rule.name, RuleVerdict.PASS)
