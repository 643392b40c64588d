"""Pickles an attacker would write: each runs code of its choosing when an unguarded unpickler loads it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class System:
    """Pickles as a call of os.system (``posix.system``) with ``command``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def crafted_call(module: str, name: str, *args: str) -> bytes:
    """A pickle that calls ``module.name(*args)`` when loaded (GLOBAL, then REDUCE), written by hand."""
    pushed = b"".join(b"V" + arg.encode() + b"\n" for arg in args)
    return b"c" + f"{module}\n{name}\n".encode() + b"(" + pushed + b"tR."


def marker_code(marker: Path) -> str:
    """Python source that creates ``marker``: proof that a payload ran."""
    return f"open({str(marker)!r}, 'w').write('ran')"
