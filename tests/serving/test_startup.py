"""Start-up: `mlseam serve` loads with the cyclic GC off, ends with it on, and imports only what serving needs."""

from __future__ import annotations

import gc
import json
import subprocess
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
    monkeypatch.setattr(cli, "app", lambda **kwargs: seen.append(gc.isenabled()))
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert seen == [collecting] and exited.value.code == 0


def test_freezing_the_heap_turns_the_collector_back_on() -> None:
    gc.disable()
    freeze_heap()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


# Each costs start-up time and memory in every API container, and none is needed to serve.
NOT_FOR_SERVING = ("alembic", "sqlalchemy", "rich", "boto3", "s3transfer", "mlseam.training", "mlseam.local")


def test_the_serve_path_imports_none_of_the_other_commands_tools() -> None:
    code = (
        "import json, sys\n"
        "import mlseam.cli, mlseam.serving, mlseam.serving.app, mlseam.serving.server, mlseam.stores\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = set(json.loads(done.stdout))

    assert "fastapi" in loaded and "botocore" in loaded  # what serving does need is there
    assert [name for name in NOT_FOR_SERVING if name in loaded] == []


def test_the_command_line_package_imports_no_command_before_main_has_set_the_collector() -> None:
    code = "import json, sys\nimport mlseam.cli\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    loaded = set(json.loads(done.stdout))

    assert [name for name in ("typer", "botocore", "mlseam.cli.commands", "mlseam.stores") if name in loaded] == []
