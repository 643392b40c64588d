"""``mlseam examples``: list with provenance, quarantine and release with a dry run first, as a subprocess."""

from __future__ import annotations

import pytest
from test_cli import _one_line_error, mlseam

from builders import linear_examples, linear_service
from mlseam.examples import LabelledExample
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.stores import Stores


def test_quarantine_counts_first_applies_with_yes_and_release_undoes_it(settings: Settings, stores: Stores) -> None:
    # given: a service with examples from two sources, one of them written through the API
    name = linear_service(settings.services_dir)
    kind = load_service(name, settings.services_dir).kind
    api_rows = [
        LabelledExample(e.input, e.label, external_id=f"a-{i}") for i, e in enumerate(linear_examples(3, seed=1))
    ]
    stores.examples.add(name, kind, api_rows, source="api", request_id="req-9")
    stores.examples.add(name, kind, linear_examples(2, seed=2), source="seed")

    listed = mlseam(settings, "examples", "list", name, "--source", "api")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("req-9") == 3 and "a-2" in listed.stdout and "seed" not in listed.stdout

    # when: a dry run, then the quarantine applied
    dry = mlseam(settings, "examples", "quarantine", name, "--source", "api", "--reason", "bad client")
    assert dry.returncode == 0 and f"{name}: quarantine would change 3 examples (source=api)" in dry.stdout
    assert stores.examples.read(name, kind).quarantined == 0
    done = mlseam(settings, "examples", "quarantine", name, "--source", "api", "--reason", "bad client", "--yes")
    # then: the rows are held back and the event is in the history
    assert done.returncode == 0 and f"{name}: quarantined 3 examples (source=api)" in done.stdout, done.stderr
    assert len(stores.examples.read(name, kind).examples) == 2
    assert "yes" in mlseam(settings, "examples", "list", name, "--source", "api").stdout
    history = mlseam(settings, "examples", "history", name)
    assert "quarantine" in history.stdout and "bad client" in history.stdout

    released = mlseam(settings, "examples", "release", name, "--source", "api", "--reason", "fixed", "--yes")
    assert released.returncode == 0 and f"{name}: released 3 examples" in released.stdout
    assert len(stores.examples.read(name, kind).examples) == 5
    again = mlseam(settings, "examples", "release", name, "--source", "api", "--reason", "fixed", "--yes")
    assert again.returncode == 0 and "no example to change" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("quarantine", "{name}", "--reason", "r"), "name the examples with --source"),
        (("quarantine", "{name}", "--since", "yesterday", "--reason", "r"), "'yesterday' is not a date or time"),
        (("list", "nope"), "error: unknown service 'nope'"),
    ],
)
def test_bad_usage_is_one_error_line_and_exit_2(settings: Settings, args: tuple[str, ...], message: str) -> None:
    name = linear_service(settings.services_dir)
    result = mlseam(settings, "examples", *(arg.format(name=name) for arg in args))
    assert result.returncode == 2 and message in _one_line_error(result)
