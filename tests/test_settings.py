"""Settings read from the environment: coalescing's current names, and its former ones still honoured."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from mlseam.settings import RENAMED_ENV, Settings


def test_the_coalescing_settings_are_read_from_their_own_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSEAM_COALESCE", "false")
    monkeypatch.setenv("MLSEAM_COALESCE_MAX_ROWS", "64")
    monkeypatch.setenv("MLSEAM_COALESCE_MAX_WAIT_MS", "3")
    monkeypatch.setenv("MLSEAM_COALESCE_GATHER_MS", "0")
    settings = Settings()
    assert (settings.coalesce, settings.coalesce_max_rows) == (False, 64)
    assert (settings.coalesce_max_wait_ms, settings.coalesce_gather_ms) == (3.0, 0.0)


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        ("MLSEAM_BATCHING", "MLSEAM_COALESCE", "false", False),
        ("MLSEAM_BATCH_MAX_ROWS", "MLSEAM_COALESCE_MAX_ROWS", "64", 64),
        ("MLSEAM_BATCH_MAX_WAIT_MS", "MLSEAM_COALESCE_MAX_WAIT_MS", "3", 3.0),
        ("MLSEAM_BATCH_GATHER_MS", "MLSEAM_COALESCE_GATHER_MS", "0", 0.0),
    ],
)
def test_a_former_name_still_works_and_warns_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    old: str,
    new: str,
    value: str,
    expected: object,
) -> None:
    assert RENAMED_ENV[old] == new
    monkeypatch.setenv(old, value)
    with caplog.at_level(logging.WARNING, logger="mlseam.settings"):
        settings = Settings()
    assert getattr(settings, new.removeprefix("MLSEAM_").lower()) == expected
    assert caplog.messages == [f"{old} is deprecated: set {new} instead"]


def test_the_current_name_wins_over_a_former_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLSEAM_BATCH_MAX_ROWS", "7")
    monkeypatch.setenv("MLSEAM_COALESCE_MAX_ROWS", "64")
    with caplog.at_level(logging.WARNING, logger="mlseam.settings"):
        assert Settings().coalesce_max_rows == 64
    assert caplog.messages == [
        "MLSEAM_BATCH_MAX_ROWS is deprecated and ignored: MLSEAM_COALESCE_MAX_ROWS is set; unset MLSEAM_BATCH_MAX_ROWS"
    ]


def test_batch_job_settings_keep_their_names_and_warn_about_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MLSEAM_BATCH_MAX_ITEMS", "500")
    monkeypatch.setenv("MLSEAM_BATCH_CHUNK_ITEMS", "50")
    with caplog.at_level(logging.WARNING, logger="mlseam.settings"):
        settings = Settings()
    assert (settings.batch_max_items, settings.batch_chunk_items, settings.coalesce_max_rows) == (500, 50, 1024)
    assert caplog.messages == []


def test_a_bad_value_under_a_former_name_is_refused_like_under_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSEAM_BATCH_MAX_ROWS", "0")
    with pytest.raises(ValueError, match="coalesce_max_rows"):
        Settings()


def test_the_warning_is_one_line_on_stderr_of_a_plain_process() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from mlseam.settings import Settings; print(Settings().coalesce)"],
        env={"MLSEAM_BATCHING": "false", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout == "False\n"
    assert result.stderr == "MLSEAM_BATCHING is deprecated: set MLSEAM_COALESCE instead\n"
