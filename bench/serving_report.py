"""The serving benchmark's figures and its report: per-server tables, ratios, the time breakdown and the aims."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024
OTHERS_WARN = 0.2
"""Other processes' CPU use (fraction of one CPU) above which a scenario is flagged as disturbed."""
NOLOG = "mlseam-nolog"
NOACCESS = "mlseam-noaccess"
SHADOW = "mlseam-shadow"
SHADOW_SHARE = 0.1
"""The default ``shadow.share`` (mlseam/manifest/shadow.py), which the shadow server runs at."""
SHADOW_NOISE = 0.03
"""Throughput differences within this share are noise on a shared machine, not the challenger's cost."""

AIM_C64_SPEEDUP = 10.0
AIM_C64_FLOOR = 0.3
AIM_C64_P99_MS = 20.0
AIM_100ROW_SPEEDUP = 3.5
AIM_ACCESS_LOG_COST = 0.10
AIM_LOG_COST = 0.15
AIM_NEIGHBOUR_KEEPS = 0.8
AIM_RSS_RATIO = 1.2
AIM_READY_RATIO = 1.3
NEIGHBOUR_SCENARIO = (100, 8)
PROFILED_SCENARIOS = ((1, 64), (100, 8))


@dataclass
class Scenario:
    """One (rows, concurrency) run against one server."""

    rows: int
    concurrency: int
    raw: dict[str, Any]
    batch_requests: float = math.nan
    batch_rows: float = math.nan

    @property
    def req_s(self) -> float:
        return float(self.raw["ok"]) / float(self.raw["seconds"])

    @property
    def rows_s(self) -> float:
        return self.req_s * self.rows

    @property
    def errors(self) -> int:
        return int(self.raw["completed"] - self.raw["ok"] + self.raw["transport_errors"] + self.raw["timed_out"])


@dataclass
class ServerRun:
    """One server's figures in one round of scenarios."""

    name: str
    title: str
    ready_s: float = math.nan
    ready_samples: list[float] = field(default_factory=list)
    rss_ready: int = 0
    """Resident memory once ready (the model loaded, nothing served yet)."""
    rss_warm: int = 0
    rss_end: int = 0
    agrees: str = "not checked"
    scenarios: dict[tuple[int, int], Scenario] = field(default_factory=dict)
    neighbour: Scenario | None = None
    """``NEIGHBOUR_SCENARIO`` again, with a busy loop on the load generator's CPU."""
    paired: dict[str, Scenario] = field(default_factory=dict)
    """1 row c=64 again, measured in turns with the server named (``paired_load``): this server's figures."""


@dataclass
class Profile:
    """A sampled profile of mlseam during one scenario: the share of samples per stage."""

    scenario: Scenario
    shares: dict[str, float]
    samples: int
    note: str = ""
    hottest: list[tuple[str, str, float]] = field(default_factory=list)
    """(stage, innermost function, share of the samples), hottest first."""
    server: str = "mlseam"


def _measured(key: tuple[int, int], *runs: ServerRun | None) -> list[Scenario] | None:
    """Each run's scenario ``key``; None unless every run was measured there."""
    found = [run.scenarios.get(key) if run is not None else None for run in runs]
    return None if any(scenario is None for scenario in found) else [s for s in found if s is not None]


def _fmt(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def print_server(run: ServerRun) -> None:
    print()
    samples = ", ".join(f"{ready:.2f}" for ready in run.ready_samples)
    print(
        f"{run.title}: ready in {run.ready_s:.2f} s (median of {samples}), "
        f"RSS {run.rss_ready / MIB:.1f} MiB once ready, {run.rss_warm / MIB:.1f} MiB after warm-up "
        f"({run.rss_end / MIB:.1f} MiB after all scenarios); "
        f"answers match: {run.agrees}"
    )
    batching = run.name.startswith("mlseam")
    header = (
        f"{'rows/req':>8} {'conc':>5} {'req/s':>9} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'errors':>6} {'srv cpu':>7} {'us/req':>7} {'cli cpu':>7} {'others':>7}"
        + (f" {'req/batch':>9} {'rows/batch':>10}" if batching else "")
    )
    print(header)
    print("-" * len(header))
    rows = [(s, "") for s in run.scenarios.values()]
    if run.neighbour is not None:
        rows.append((run.neighbour, "  with a busy neighbour on the load generator's CPU"))
    for scenario, note in rows:
        raw = scenario.raw
        line = (
            f"{scenario.rows:>8} {scenario.concurrency:>5} {scenario.req_s:>9,.1f} {scenario.rows_s:>10,.0f} "
            f"{_fmt(raw['p50_ms'], '.2f'):>8} {_fmt(raw['p99_ms'], '.2f'):>8} {_fmt(raw['max_ms'], '.1f'):>8} "
            f"{scenario.errors:>6} {_fmt(raw['server_cpu'] * 100, '.0f') + '%':>7} "
            f"{_fmt(_ratio(raw['server_cpu'] * 1e6, scenario.req_s), '.0f'):>7} "
            f"{_fmt(raw['client_cpu'] * 100, '.0f') + '%':>7} {_fmt(raw['other_cpu'] * 100, '.0f') + '%':>7}"
        )
        if batching:
            line += f" {_fmt(scenario.batch_requests, '.1f'):>9} {_fmt(scenario.batch_rows, '.1f'):>10}"
        print(line + note)
    for scenario, _ in rows:
        raw = scenario.raw
        if scenario.errors:
            print(
                f"  errors at {scenario.rows} rows c={scenario.concurrency}: statuses {raw['statuses']}, "
                f"transport errors {raw['transport_errors']}, timed out {raw['timed_out']}, first: {raw['first_error']}"
            )


def print_inprocess(figures: dict[str, Any], cpu: int) -> None:
    one, hundred = figures["1"], figures["100"]
    print()
    print(
        f"in-process predict, no JSON, no HTTP (CPU {cpu}): 1-row calls {one['calls_per_s']:,.0f} calls/s "
        f"(p50 {one['p50_ms']:.3f} ms, p99 {one['p99_ms']:.3f} ms); 100-row calls {hundred['calls_per_s']:,.0f} "
        f"calls/s = {hundred['rows_per_s']:,.0f} rows/s (p50 {hundred['p50_ms']:.2f} ms, "
        f"p99 {hundred['p99_ms']:.2f} ms)"
    )
    alone = figures["load_only_s"]
    print(
        f"for scale: a fresh Python that only unpickles the champion takes "
        f"{statistics.median(alone):.2f} s (median of {', '.join(f'{v:.2f}' for v in alone)})"
    )


def print_comparison(runs: dict[str, ServerRun], inproc: dict[str, Any] | None) -> None:
    """Per scenario: mlseam's throughput, p50 and p99 against the minimal app's and the floor's."""
    mlseam, minimal, floor = runs.get("mlseam"), runs.get("minimal"), runs.get("floor")
    if mlseam is None or (minimal is None and floor is None):
        return
    print()
    print("mlseam as it ships, against the minimal app and the raw ASGI floor (throughput ratio; p50, p99 in ms):")
    header = (
        f"{'rows/req':>8} {'conc':>5} {'x minimal':>10} {'x floor':>8} "
        f"{'p50 mlseam/min/floor':>22} {'p99 mlseam/min/floor':>22}"
    )
    print(header)
    print("-" * len(header))
    for key, ours in mlseam.scenarios.items():
        theirs = minimal.scenarios.get(key) if minimal else None
        bottom = floor.scenarios.get(key) if floor else None

        def trio(field_name: str, ours: Scenario = ours, theirs: Any = theirs, bottom: Any = bottom) -> str:
            values = [s.raw[field_name] if s is not None else math.nan for s in (ours, theirs, bottom)]
            return "/".join(_fmt(v, ".1f" if v >= 10 else ".2f") for v in values)

        speed = _ratio(ours.req_s, theirs.req_s) if theirs else math.nan
        to_floor = _ratio(ours.req_s, bottom.req_s) if bottom else math.nan
        print(
            f"{key[0]:>8} {key[1]:>5} {_fmt(speed, '.2f') + 'x':>10} {_fmt(to_floor, '.2f') + 'x':>8} "
            f"{trio('p50_ms'):>22} {trio('p99_ms'):>22}"
        )
    if inproc is not None:
        for run in (mlseam, minimal):
            if run is None:
                continue
            best_one = max((s.req_s for (r, _), s in run.scenarios.items() if r == 1), default=math.nan)
            best_rows = max((s.rows_s for (r, _), s in run.scenarios.items() if r == 100), default=math.nan)
            print(
                f"{run.name} vs in-process: best 1-row {best_one / inproc['1']['calls_per_s']:.0%} of predict calls/s, "
                f"best 100-row {best_rows / inproc['100']['rows_per_s']:.0%} of predict rows/s"
            )


def print_log_costs(runs: dict[str, ServerRun]) -> None:
    """Throughput with each log on versus off, per scenario."""
    shipped = runs.get("mlseam")
    for other, what in ((NOLOG, "prediction log"), (NOACCESS, "access log")):
        off_run = runs.get(other)
        if shipped is None or off_run is None:
            continue
        print()
        print(f"{what} on vs off (same build, same machine, ABBA order):")
        print(f"  {'rows/req':>8} {'conc':>5} {'req/s on/off':>21} {'cost':>7} {'p99 ms on/off':>15}")
        for key, on in shipped.scenarios.items():
            if key not in off_run.scenarios:
                continue
            off = off_run.scenarios[key]
            cost = 1.0 - _ratio(on.req_s, off.req_s)
            print(
                f"  {key[0]:>8} {key[1]:>5} {on.req_s:>10,.0f}/{off.req_s:<10,.0f} {cost:>7.1%} "
                f"{on.raw['p99_ms']:>7.1f}/{off.raw['p99_ms']:<7.1f}"
            )


def print_profile(profile: Profile) -> None:
    """The share of mlseam's sampled time per stage, and what that is per request."""
    print()
    scenario = profile.scenario
    rows, concurrency = scenario.rows, scenario.concurrency
    if not profile.samples:
        print(f"where {profile.server}'s time goes ({rows} rows c={concurrency}): not measured ({profile.note})")
        return
    per_request_us = scenario.raw["server_cpu"] / scenario.req_s * 1e6 if scenario.req_s else math.nan
    print(
        f"where {profile.server}'s time goes at {rows} rows c={concurrency} (py-spy, {profile.samples} samples of "
        f"the live server; {scenario.req_s:,.0f} req/s while sampled, {_fmt(per_request_us, '.0f')} us of server "
        "CPU per request):"
    )
    for stage, share in profile.shares.items():
        print(f"  {stage:>9} {share:>6.1%} {_fmt(share * per_request_us, '.1f'):>7} us/request")
    print(
        "  (parse: body read + JSON; validate: shapes, values, token; queue: coalescer; predict: model + outputs; "
        "write: rendering the answer; log: access and prediction logs; metrics: Prometheus; shadow: handing "
        "requests to the challenger and settling its answers; asgi: mlseam's request plumbing (request id, body "
        "limit, token, route); http: uvicorn and httptools; loop: the event loop, thread hand-offs)"
    )
    if profile.hottest:
        print("  hottest innermost functions:")
        for stage, leaf, share in profile.hottest:
            print(f"    {share:>6.1%} {stage:>9}  {leaf}")


@dataclass
class _Verdicts:
    lines: list[str] = field(default_factory=list)

    def add(self, text: str, met: bool | None, detail: str) -> None:
        word = "not measured" if met is None else ("met" if met else "MISSED")
        self.lines.append(f"  [{word}] {text}" + (f" ({detail})" if detail else ""))


def print_aims(runs: dict[str, ServerRun], quiet_ratio: float | None = None) -> None:
    """Every aim with met/missed, from this round's figures."""
    mlseam, minimal, floor = runs.get("mlseam"), runs.get("minimal"), runs.get("floor")
    verdicts = _Verdicts()
    _aim_c64(verdicts, mlseam, minimal, floor)
    _aim_latency_and_rows(verdicts, mlseam, minimal)
    _aim_logs(verdicts, mlseam, runs.get(NOACCESS), runs.get(NOLOG))
    _aim_neighbour(verdicts, mlseam, minimal)
    _aim_footprint(verdicts, mlseam, minimal)
    print()
    print("aims:")
    for line in verdicts.lines:
        print(line)
    errors = sum(s.errors for run in runs.values() for s in run.scenarios.values())
    print(f"  non-200 answers and transport errors over all scenarios: {errors}")
    busy = [
        (run.name, key, s.raw["other_cpu"])
        for run in runs.values()
        for key, s in run.scenarios.items()
        if s.raw["other_cpu"] > OTHERS_WARN
    ]
    if busy:
        worst = max(busy, key=lambda item: item[2])
        print(
            f"  WARNING: other processes used > {OTHERS_WARN:.0%} of a CPU in {len(busy)} scenario(s) (worst "
            f"{worst[2]:.0%}: {worst[0]} {worst[1][0]} rows c={worst[1][1]}); these figures are disturbed, rerun on "
            "an idle machine"
        )


def _aim_c64(verdicts: _Verdicts, mlseam: ServerRun | None, minimal: ServerRun | None, floor: ServerRun | None) -> None:
    text = (
        f"1 row c=64: mlseam >= {AIM_C64_SPEEDUP:g}x the minimal app, >= {AIM_C64_FLOOR:g}x the raw ASGI floor, "
        f"p99 < {AIM_C64_P99_MS:g} ms, access and prediction logs on"
    )
    found = _measured((1, 64), mlseam, minimal, floor)
    if found is None:
        verdicts.add(text, None, "needs mlseam, minimal and floor at 1 row c=64")
        return
    ours, theirs, bottom = found
    speed, to_floor, p99 = _ratio(ours.req_s, theirs.req_s), _ratio(ours.req_s, bottom.req_s), ours.raw["p99_ms"]
    met = speed >= AIM_C64_SPEEDUP and to_floor >= AIM_C64_FLOOR and p99 < AIM_C64_P99_MS and ours.errors == 0
    verdicts.add(
        text,
        met,
        f"{ours.req_s:,.0f} vs {theirs.req_s:,.0f} req/s = {speed:.2f}x; floor {bottom.req_s:,.0f} req/s = "
        f"{to_floor:.2f}x; p99 {p99:.1f} ms",
    )


def _aim_latency_and_rows(verdicts: _Verdicts, mlseam: ServerRun | None, minimal: ServerRun | None) -> None:
    c1_text = "1 row c=1: mlseam p50 no worse than the minimal app's"
    rows_text = f"100 rows c=8: mlseam rows/s >= {AIM_100ROW_SPEEDUP:g}x the minimal app's"
    found = _measured((1, 1), mlseam, minimal)
    if found is None:
        verdicts.add(c1_text, None, "needs mlseam and minimal at 1 row c=1")
    else:
        ours, theirs = found
        verdicts.add(
            c1_text,
            ours.raw["p50_ms"] <= theirs.raw["p50_ms"] and ours.errors == 0,
            f"{ours.raw['p50_ms']:.2f} ms vs {theirs.raw['p50_ms']:.2f} ms",
        )
    found = _measured((100, 8), mlseam, minimal)
    if found is None:
        verdicts.add(rows_text, None, "needs mlseam and minimal at 100 rows c=8")
        return
    ours, theirs = found
    ratio = _ratio(ours.rows_s, theirs.rows_s)
    verdicts.add(
        rows_text,
        ratio >= AIM_100ROW_SPEEDUP and ours.errors == 0,
        f"{ours.rows_s:,.0f} vs {theirs.rows_s:,.0f} rows/s = {ratio:.2f}x",
    )


def _aim_logs(
    verdicts: _Verdicts, mlseam: ServerRun | None, noaccess: ServerRun | None, nolog: ServerRun | None
) -> None:
    text = f"1 row c=64: turning the access log off changes throughput by < {AIM_ACCESS_LOG_COST:.0%}"
    found = compared(mlseam, noaccess)
    if found is None:
        verdicts.add(text, None, f"needs mlseam and {NOACCESS} at 1 row c=64")
    else:
        on, off, how = found
        change = abs(1.0 - _ratio(on.req_s, off.req_s))
        verdicts.add(
            text, change < AIM_ACCESS_LOG_COST, f"{on.req_s:,.0f} on vs {off.req_s:,.0f} off ({how}): {change:.1%}"
        )
    text = f"1 row c=64: the prediction log (every request, locally) costs < {AIM_LOG_COST:.0%}"
    found = compared(mlseam, nolog)
    if found is None:
        verdicts.add(text, None, f"needs mlseam and {NOLOG} at 1 row c=64")
    else:
        on, off, how = found
        cost = 1.0 - _ratio(on.req_s, off.req_s)
        verdicts.add(text, cost < AIM_LOG_COST, f"{on.req_s:,.0f} on vs {off.req_s:,.0f} off ({how}): {cost:.1%}")


def neighbour_ratios(mlseam: ServerRun | None, minimal: ServerRun | None) -> tuple[float, float] | None:
    """(quiet, with a neighbour) mlseam/minimal rows/s ratios at ``NEIGHBOUR_SCENARIO``; None if not measured."""
    if _measured(NEIGHBOUR_SCENARIO, mlseam, minimal) is None:
        return None
    assert mlseam is not None and minimal is not None
    if mlseam.neighbour is None or minimal.neighbour is None:
        return None
    quiet = _ratio(mlseam.scenarios[NEIGHBOUR_SCENARIO].rows_s, minimal.scenarios[NEIGHBOUR_SCENARIO].rows_s)
    busy = _ratio(mlseam.neighbour.rows_s, minimal.neighbour.rows_s)
    return quiet, busy


def _aim_neighbour(verdicts: _Verdicts, mlseam: ServerRun | None, minimal: ServerRun | None) -> None:
    rows, concurrency = NEIGHBOUR_SCENARIO
    text = (
        f"{rows} rows c={concurrency} with a busy loop on the load generator's CPU: mlseam keeps >= "
        f"{AIM_NEIGHBOUR_KEEPS:.0%} of its quiet ratio to the minimal app"
    )
    ratios = neighbour_ratios(mlseam, minimal)
    if ratios is None or mlseam is None or minimal is None or mlseam.neighbour is None or minimal.neighbour is None:
        verdicts.add(text, None, "needs mlseam and minimal with --neighbour")
        return
    quiet, busy = ratios
    kept = _ratio(busy, quiet)
    ours, theirs = mlseam.neighbour, minimal.neighbour
    verdicts.add(
        text,
        kept >= AIM_NEIGHBOUR_KEEPS and ours.errors == 0,
        f"quiet {quiet:.2f}x, with the neighbour {busy:.2f}x ({ours.rows_s:,.0f} vs {theirs.rows_s:,.0f} rows/s): "
        f"keeps {kept:.0%}; per second of server CPU {_per_cpu(ours, theirs):.2f}x, and the servers got "
        f"{ours.raw['server_cpu']:.0%} and {theirs.raw['server_cpu']:.0%} of a CPU",
    )


def _per_cpu(ours: Scenario, theirs: Scenario) -> float:
    """Rows per second of server CPU, ours over theirs: what is left when another process takes CPU time from
    the servers (the scheduler shares a CPU by thread, and the minimal app's pool has many)."""
    return _ratio(_ratio(ours.rows_s, ours.raw["server_cpu"]), _ratio(theirs.rows_s, theirs.raw["server_cpu"]))


def _aim_footprint(verdicts: _Verdicts, mlseam: ServerRun | None, minimal: ServerRun | None) -> None:
    text = (
        f"resident memory with the model loaded <= {AIM_RSS_RATIO:g}x the minimal app's, ready within "
        f"{AIM_READY_RATIO:g}x its time"
    )
    if mlseam is None or minimal is None:
        verdicts.add(text, None, "needs mlseam and minimal")
        return
    rss = _ratio(mlseam.rss_warm, minimal.rss_warm)
    ready = _ratio(mlseam.ready_s, minimal.ready_s)
    verdicts.add(
        text,
        rss <= AIM_RSS_RATIO and ready <= AIM_READY_RATIO,
        f"after warm-up {mlseam.rss_warm / MIB:.1f} vs {minimal.rss_warm / MIB:.1f} MiB = {rss:.2f}x, once ready "
        f"{_ratio(mlseam.rss_ready, minimal.rss_ready):.2f}x; ready {mlseam.ready_s:.2f} vs {minimal.ready_s:.2f} s "
        f"= {ready:.2f}x",
    )


def compared(a: ServerRun | None, b: ServerRun | None) -> tuple[Scenario, Scenario, str] | None:
    """1 row c=64 on ``a`` and ``b``: measured in turns when they were (the figure A/B aims use), else their
    round's runs; with how it was measured. None when neither was measured."""
    if a is None or b is None:
        return None
    if b.name in a.paired and a.name in b.paired:
        first, second = a.paired[b.name], b.paired[a.name]
        return first, second, f"in turns, {first.raw['seconds']:.0f} s counted each"
    found = _measured((1, 64), a, b)
    return None if found is None else (found[0], found[1], "one run each")


def print_shadow_cost(runs: dict[str, ServerRun], inproc: dict[str, Any]) -> None:
    """1 row c=64 with and without a challenger in shadow, beside the share's own cost.

    Measured in turns when it was (a shared machine's speed drifts by more than the cost looked for between
    two runs of a few seconds), else on the round's runs.
    """
    found = compared(runs.get("mlseam"), runs.get(SHADOW))
    if found is None:
        return
    plain, shadowed, how = found
    windows = list(zip(plain.raw.get("windows", []), shadowed.raw.get("windows", []), strict=False))
    if windows:
        changes = sorted(b[0] / b[1] / (a[0] / a[1]) - 1.0 for a, b in windows if a[0] and b[1])
        how += (
            f"; turn by turn the change was {changes[0]:+.1%} to {changes[-1]:+.1%}, "
            f"median {statistics.median(changes):+.1%}"
        )
    drop = 1.0 - _ratio(shadowed.req_s, plain.req_s)
    # The share's own cost: each shadowed request served once more, at what the champion's API spends on
    # one (its server CPU per request), so shadowing a share s of requests may take at most s of the
    # throughput. The in-process predict is the part of that the challenger's model itself costs.
    predict_us = float(inproc["1"]["p50_ms"]) * 1000.0
    plain_us = _ratio(plain.raw["server_cpu"], plain.req_s) * 1e6
    own_cost = SHADOW_SHARE
    child_us = _ratio(shadowed.raw.get("children_cpu", math.nan), shadowed.req_s) * 1e6
    extra_us = _ratio(shadowed.raw["server_cpu"], shadowed.req_s) * 1e6 - plain_us
    met = drop <= own_cost + SHADOW_NOISE
    print()
    print(
        f"shadow, 1 row c=64 ({how}): {plain.req_s:,.0f} req/s without a challenger, {shadowed.req_s:,.0f} with one "
        f"at share {SHADOW_SHARE:g} (throughput {-drop:+.1%}); the share's own cost: {SHADOW_SHARE:g} of the requests "
        f"served again at the champion's {plain_us:.0f} us of server CPU each = {own_cost:.0%} (the challenger's 1-row "
        f"predict in-process alone: {predict_us:.0f} us, p50)"
    )
    print(
        f"  the challenger's process used {_fmt(child_us, '.1f')} us of CPU per request answered, the API "
        f"{_fmt(extra_us, '+.1f')} us more per request (handing requests over, logging the challenger's answers)"
    )
    outcomes = shadowed.raw.get("shadow_outcomes") or {}
    served = float(shadowed.raw.get("served_while_paired", math.nan))
    if outcomes:
        handed = sum(outcomes.values())
        parts = ", ".join(f"{name} {count:,.0f}" for name, count in sorted(outcomes.items()) if count)
        print(
            f"  handed to the challenger meanwhile: {handed:,.0f} requests ({parts}), "
            f"{_fmt(_ratio(handed, served), '.1%')} of the {_fmt(served, ',.0f')} the API answered"
        )
    print(
        f"  aim: the champion's throughput drops by at most the share's own cost (+{SHADOW_NOISE:.0%} noise): "
        f"{'met' if met else 'MISSED'} ({drop:.1%} vs {own_cost:.1%})"
    )
