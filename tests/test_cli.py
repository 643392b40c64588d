"""The `mlseam` command as a user runs it: a real process against the local stack."""

from __future__ import annotations

import socket
import subprocess

import pytest
import typer

from builders import clone_service, linear_examples, linear_service
from builders import run_mlseam as mlseam
from mlseam.local.ports import free_port
from mlseam.manifest import load_service
from mlseam.settings import Settings
from mlseam.stores import Stores


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_seed_retrain_status_promote_rollback(settings: Settings) -> None:
    name = clone_service(settings.services_dir, "diabetes")

    seeded = mlseam(settings, "seed", name)
    assert seeded.returncode == 0 and f"{name}: 442 demo examples, 442 new" in seeded.stdout
    assert "0 new" in mlseam(settings, "seed", name).stdout

    first = mlseam(settings, "retrain", name)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1].startswith(f"{name} v1 promoted: first model: rmse")
    # progress is visible: rows read, the fit starting and its time, the evaluation time
    for step in ("read 442 valid rows", "fitting a candidate on", "fit on", "evaluated candidate on"):
        assert step in first.stderr, step

    status = mlseam(settings, "status")
    assert status.returncode == 0 and name in status.stdout and "v1" in status.stdout and "442" in status.stdout
    again = mlseam(settings, "retrain", name)
    assert again.returncode == 0, again.stderr
    assert f"{name}: nothing to fit: no new examples since champion v1" in again.stdout
    assert "no version added" in again.stdout
    forced = mlseam(settings, "retrain", name, "--force")
    assert forced.returncode == 0 and f"{name} v2 kept: not better" in forced.stdout
    assert "(fitted because forced (mlseam retrain --force))" in forced.stdout

    history = mlseam(settings, "status", name)
    assert "v2" in history.stdout and "kept" in history.stdout and "first model" in history.stdout

    refused = mlseam(settings, "promote", name, "v9")
    assert refused.returncode == 1 and f"{name} has no version v9" in _one_line_error(refused)


def test_promote_and_rollback_move_the_champion(settings: Settings, stores: Stores) -> None:
    name = linear_service(settings.services_dir, model="StubbornModel")
    service = load_service(name, settings.services_dir)
    stores.examples.add(name, service.kind, linear_examples(50, seed=1), source="t")
    assert mlseam(settings, "retrain", name).returncode == 0
    stores.examples.add(name, service.kind, linear_examples(50, seed=2), source="t")
    kept = mlseam(settings, "retrain", name)
    assert kept.returncode == 0 and f"{name} v2 kept: not better" in kept.stdout

    promoted = mlseam(settings, "promote", name, "v2", "--reason", "reviewed by hand", "--by", "ana")
    assert promoted.returncode == 0 and "champion is now v2" in promoted.stdout
    rolled = mlseam(settings, "rollback", name)
    assert rolled.returncode == 0 and "champion is now v1" in rolled.stdout
    nothing = mlseam(settings, "rollback", name)
    assert nothing.returncode == 1 and "no earlier champion" in _one_line_error(nothing)
    assert [(e.action, e.to_version) for e in stores.registry.history(name)] == [
        ("promote", "v1"),
        ("promote", "v2"),
        ("rollback", "v1"),
    ]
    history = stores.registry.history(name)
    assert history[1].reason == "reviewed by hand"
    assert [e.actor for e in history[:2]] == ["retrain job", "ana"]
    assert history[2].actor.endswith(f"@{socket.gethostname()}")  # user@host when --by is not given
    shown = mlseam(settings, "status", name)
    assert "v2" in shown.stdout and "(rolled back)" in shown.stdout and "ana" in shown.stdout


def test_a_quality_gate_exits_3(settings: Settings, stores: Stores) -> None:
    name = linear_service(settings.services_dir)
    stores.examples.add(name, load_service(name, settings.services_dir).kind, linear_examples(5, seed=1), source="t")
    result = mlseam(settings, "retrain", name)
    assert result.returncode == 3
    assert result.stdout.strip().splitlines()[-1] == (
        f"{name} v1 refused: too few examples: 5 valid, min_examples is 20; add labelled examples "
        "(POST /<service>/v1/examples or mlseam seed) or lower min_examples in service.yaml"
    )


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        (("retrain", "nope"), {}, 2, "error: unknown service 'nope'"),
        (("retrain",), {}, 2, "error: Missing argument 'service'. (see `mlseam retrain --help`)"),
        (("bogus",), {}, 2, "error: No such command 'bogus'. (see `mlseam --help`)"),
        (("status", "--nope"), {}, 2, "error: No such option: --nope (see `mlseam status --help`)"),
        (("local-stack", "nope"), {}, 2, "error: unknown service 'nope'"),
        (("promote", "digits", "v99"), {}, 1, "error: digits has no version v99"),
        (("promote", "digits", "latest"), {}, 1, "error: 'latest' is not a version name"),
        (
            ("status",),
            {"MLSEAM_ENVIRONMENT": "prod", "MLSEAM_DATABASE_URL": ""},
            2,
            "error: settings: MLSEAM_DATABASE_URL must be set when MLSEAM_ENVIRONMENT=prod",
        ),
        (
            ("seed", "digits"),
            {"MLSEAM_DATABASE_URL": "postgresql://postgres@127.0.0.1:{port}/x"},
            1,
            "error: cannot reach PostgreSQL at 127.0.0.1:{port}",
        ),
    ],
)
def test_user_mistakes_are_one_line_and_an_exit_code(
    settings: Settings, args: tuple[str, ...], env: dict[str, str], code: int, message: str
) -> None:
    clone_service(settings.services_dir, "digits", "digits")
    port = str(free_port())
    env = {k: v.replace("{port}", port) for k, v in env.items()}
    result = mlseam(settings, *args, **env)
    assert result.returncode == code, result.stderr
    assert _one_line_error(result).startswith(message.replace("{port}", port))


def test_status_shows_a_broken_service_instead_of_failing(settings: Settings) -> None:
    clone_service(settings.services_dir, "diabetes", "diabetes")
    (settings.services_dir / "broken").mkdir()
    (settings.services_dir / "broken" / "service.yaml").write_text("name: broken\ntask: nope\n")
    result = mlseam(settings, "status")
    assert result.returncode == 0, result.stderr
    assert "diabetes" in result.stdout and "cannot load" in result.stdout


def test_an_aws_refusal_the_stores_do_not_translate_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    from botocore.exceptions import ClientError

    from mlseam.cli import user_errors

    @user_errors
    def promote() -> None:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform dynamodb:GetItem"}}
        raise ClientError(error, "GetItem")  # type: ignore[arg-type]

    with pytest.raises(typer.Exit) as caught:
        promote()

    assert caught.value.exit_code == 1
    assert capsys.readouterr().err.strip() == (
        "error: AWS refused GetItem: AccessDeniedException: not authorized to perform dynamodb:GetItem; "
        "check the AWS credentials, their permissions and the region (MLSEAM_AWS_REGION)"
    )


def test_other_exceptions_are_not_swallowed() -> None:
    from mlseam.cli import user_errors

    @user_errors
    def crash() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        crash()


def test_new_names_every_task_kind_in_its_help() -> None:
    from typer.testing import CliRunner

    from mlseam.cli import app
    from mlseam.tasks import TASK_KINDS

    shown = CliRunner().invoke(app, ["new", "--help"], terminal_width=300).output
    assert all(kind in shown for kind in TASK_KINDS), shown


def test_a_retrain_waiting_for_drift_measures_it_first_and_says_it_is_not_due(settings: Settings) -> None:
    name = clone_service(settings.services_dir, "diabetes")
    path = settings.services_dir / name / "service.yaml"
    path.write_text(path.read_text() + "retrain_when: {drift: true}\n")
    assert mlseam(settings, "seed", name).returncode == 0
    assert mlseam(settings, "retrain", name).returncode == 0

    waiting = mlseam(settings, "retrain", name)

    assert waiting.returncode == 0, waiting.stderr
    line = waiting.stdout.strip().splitlines()[-1]
    assert line.startswith(f"{name}: not due: drift: not judged: 0 logged predictions since "), line
    assert line.endswith("(needs 1000); its model is unchanged; champion kept, no version added")
    monitored = mlseam(settings, "monitor", name)
    assert monitored.returncode == 0, monitored.stderr
    assert f"{name}: no logged prediction has a label yet" in monitored.stdout
