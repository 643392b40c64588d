"""The state of the code a service's author left behind: last change, README placeholders, owner."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

PLACEHOLDER = "TODO:"
"""What the scaffold's README templates (``mlseam/scaffold/templates/``) leave for the author to fill in."""
CACHE_SECONDS = 300.0
"""How long a folder's last git change is reused: git runs once per service per five minutes, not per page."""


class Retrain(Protocol):
    """What a version recorded of the code it was trained with (a ModelVersion or its summary)."""

    @property
    def started_at(self) -> str: ...
    @property
    def code_version(self) -> str | None: ...


@dataclass(frozen=True)
class CodeState:
    """When the service folder last changed and by whom, and how much of its README is still scaffold."""

    changed_at: str | None
    changed_by: str | None
    source: str  # "git", "last retrain" (no checkout: the code version it recorded), or "unknown"
    code_version: str | None
    placeholders: int  # "TODO:" lines of the scaffold still in README.md; -1 when there is no README
    owner: str


_cache: dict[Path, tuple[float, tuple[str, str] | None]] = {}
_lock = threading.Lock()


def _git_last_change(directory: Path) -> tuple[str, str] | None:
    """(ISO date, author) of the last commit touching ``directory``; None outside a git checkout."""
    now = time.monotonic()
    with _lock:
        cached = _cache.get(directory)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    git = shutil.which("git")
    found: tuple[str, str] | None = None
    if git is not None:
        try:
            done = subprocess.run(
                [git, "-C", str(directory), "log", "-1", "--format=%cI%x1f%an", "--", "."],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and "\x1f" in done.stdout:
            when, author = done.stdout.strip().split("\x1f", 1)
            found = (when, author)
    with _lock:
        _cache[directory] = (now, found)
    return found


def count_placeholders(readme: Path) -> int:
    """How many of the scaffold's ``TODO:`` placeholders ``readme`` still holds; -1 when it is missing."""
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return -1
    return text.count(PLACEHOLDER)


def read_code_state(directory: Path, owner: str, last: Retrain | None) -> CodeState:
    """The code left in ``directory``: from git when it is a checkout, else what the last retrain recorded."""
    code_version = last.code_version if last is not None else None
    placeholders = count_placeholders(directory / "README.md")
    change = _git_last_change(directory)
    if change is not None:
        return CodeState(change[0], change[1], "git", code_version, placeholders, owner)
    if last is not None:
        return CodeState(last.started_at, None, "last retrain", code_version, placeholders, owner)
    return CodeState(None, None, "unknown", None, placeholders, owner)
