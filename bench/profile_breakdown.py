"""Where a live server's time goes: py-spy samples its stacks, each sample is put in one stage of a request."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

STAGES = ("parse", "validate", "queue", "predict", "write", "log", "metrics", "shadow", "asgi", "http", "loop")
"""The stages of a predict request, in its order; ``asgi`` is mlseam's own request plumbing (request id,
body limit, token, the predict route), ``http`` uvicorn and httptools (the floor pays them too), ``loop``
the event loop and everything not named (asyncio, uvloop, thread hand-offs); ``shadow`` handing requests to a
challenger's process and settling its answers (only with a challenger)."""

# (stage, what a frame's "function (file:line)" text contains), tried from the innermost frame outwards: the
# first frame that matches any rule names the sample's stage; numpy is not a rule, its caller decides.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("log", ("access_log.py", "recorder.py", "predictionlog/", "/logging/", "pythonjsonlogger")),
    ("metrics", ("prometheus_client", "_counter (", "_latency (", "_record (")),
    ("predict", ("sklearn/", "served.py", "outputs.py", "probabilities.py", "threadpoolctl")),
    ("validate", ("_split (", "_shape_ok (", "_shape_of (", "_checked_inputs (", "coerce_input", "pydantic")),
    ("validate", ("check_token (", "_body_skeleton (", "_image_skeleton (")),
    ("parse", ("images_from_body (", "_read_body (", "_parser (", "simdjson", "fast_body (", "_fast_inputs (")),
    ("queue", ("coalescer.py",)),
    ("shadow", ("runtime/shadow/",)),
    ("write", ("run_predict (", "_json_headers (", "render_problem (")),
    ("asgi", ("middleware.py", "predict.py", "problems.py", "starlette/", "fastapi/")),
    ("http", ("uvicorn/", "httptools")),
)


def available() -> bool:
    """Whether py-spy is installed beside this Python (it is a dev dependency)."""
    return _py_spy() is not None


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path, *, cpu: int | None = None, rate: int = 250) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` into ``out`` (collapsed stacks) without pausing it; the caller
    waits for the returned process."""
    exe = _py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (make install adds it)")
    argv = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate)]
    # --gil: only samples of the thread holding the GIL; on a server pinned to one CPU that is the Python work
    # being done, never a thread waiting (for a request, for the next batch, for the GIL itself).
    argv += ["--format", "raw", "--gil", "--nonblocking", "--output", str(out)]
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stage_of(frames: list[str]) -> str:
    """The stage of one sampled stack (outermost frame first)."""
    for frame in reversed(frames):
        for stage, needles in _RULES:
            if any(needle in frame for needle in needles):
                return stage
    return "loop"


def _stacks(collapsed: str) -> list[tuple[list[str], int]]:
    """(frames, samples) per line of py-spy's collapsed stacks (``a;b;c count``)."""
    stacks = []
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def breakdown(collapsed: str) -> tuple[dict[str, float], int]:
    """(share of the samples per stage, samples) from py-spy's collapsed stacks."""
    counts: Counter[str] = Counter()
    for frames, count in _stacks(collapsed):
        counts[stage_of(frames)] += count
    total = sum(counts.values())
    return {stage: counts[stage] / total if total else 0.0 for stage in STAGES}, total


def hottest(collapsed: str, top: int = 12) -> list[tuple[str, str, float]]:
    """The ``top`` innermost Python functions by share of the samples: (stage, function, share)."""
    counts: Counter[tuple[str, str]] = Counter()
    for frames, count in _stacks(collapsed):
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        counts[(stage_of(frames), leaf)] += count
    total = sum(counts.values()) or 1
    return [(stage, leaf, count / total) for (stage, leaf), count in counts.most_common(top)]
