"""Start-up: `mlseam serve` loads with the cyclic GC off and always ends with it on."""

from __future__ import annotations

import gc
import sys

import pytest

from mlseam import cli
from mlseam.serving.app import freeze_heap


@pytest.fixture(autouse=True)
def _gc_back_on() -> object:
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.parametrize(("argv", "collecting"), [(["serve", "digits"], False), (["status"], True), ([], True)])
def test_only_serve_starts_without_the_collector(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], collecting: bool
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(sys, "argv", ["mlseam", *argv])
    monkeypatch.setattr(cli, "app", lambda: seen.append(gc.isenabled()))
    cli.main()
    assert seen == [collecting]


def test_freezing_the_heap_turns_the_collector_back_on() -> None:
    gc.disable()
    freeze_heap()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
