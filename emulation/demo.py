"""`make demo`: an AMI rollover drained offline, watched live, with a picture of tasks per instance; or an Auto
Scaling group changed in place (`--scenario instance-refresh` and the others of emulation/in_place.py) under
ecs-drain's hooks, with a picture of each instance's lifecycle states (emulation/in_place_demo.py).

Exit status 0 only for a clean rollover: CloudFormation got SUCCESS, no task was stopped before its replacement ran,
and no request failed; 3 when it ran to its end but was not clean (the last lines say what happened).
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from ecs_drain.aws.executions import PREFLIGHT_SUFFIX
from ecs_drain_cli.lookup import latest_drain

from . import in_place_demo, strategies
from .catalog import SCENARIOS, world_options
from .cloudformation import Answer
from .in_place import IN_PLACE_SCENARIOS, IN_PLACE_STRATEGIES
from .scenarios import World, rollover_world
from .traffic import CAUSES

MAX_ROWS = 24  # instances shown live; the rest are summed up in one line


def gone_bar(first: int, left: int) -> ProgressBar:
    """The share of an instance's tasks gone since it was first seen: empty at the start, filling as they leave,
    full once nothing is left (running, stopping and pending all 0)."""
    total = max(1, first)
    gone = total if not left else max(0, first - left)
    return ProgressBar(total=total, completed=min(total, gone), width=20)


def render(world: World, name: str, started: float, done: bool, at_start: dict[str, int]) -> Group:
    """The live view. `at_start` keeps each old instance's task count when first seen, so its bar reads the same way
    throughout: the share of its tasks that are gone (empty at the start, full once nothing is left)."""
    snapshot = world.sim.snapshot()
    drain = (world.aws.last_result.get("DrainFunction") or {}).get("drain") or {}
    phase = drain.get("phase", "waiting for CloudFormation")
    if done:
        phase = world.cfn.status  # how the stack update ended, whatever the drain's last phase was
    old, new = set(world.old.container_ids), set(world.new.container_ids if world.new else [])
    table = Table(expand=False, title=f"cluster {world.sim.cluster}: container instances")
    for column in ("fleet", "EC2 instance", "status", "running", "stopping", "pending", "tasks gone"):
        table.add_column(column)

    def fleet_of(row: dict[str, Any]) -> str:
        return "old" if row["instance"] in old else "new" if row["instance"] in new else "-"

    rows = sorted(snapshot["instances"], key=lambda r: (fleet_of(r) != "old", r["ec2"]))
    for row in rows[:MAX_ROWS]:
        fleet = fleet_of(row)
        left = row["running"] + row["stopping"] + row["pending"]
        first = at_start.setdefault(row["instance"], left)
        bar: Any = gone_bar(first, left) if fleet == "old" else ""
        style = {"DRAINING": "yellow", "ACTIVE": "green"}.get(row["status"], "red")
        table.add_row(
            fleet,
            row["ec2"],
            f"[{style}]{row['status']}[/]",
            str(row["running"]),
            str(row["stopping"]),
            str(row["pending"]),
            bar,
        )
    if len(rows) > MAX_ROWS:
        rest = rows[MAX_ROWS:]
        left = sum(r["running"] + r["stopping"] + r["pending"] for r in rest)
        table.add_row("...", f"{len(rest)} more", "", "", "", "", f"{left} tasks left")
    elapsed = world.aws.clock.now() - started
    head = (
        f"scenario [bold]{name}[/]   phase [bold cyan]{phase}[/]   simulated {elapsed / 60:5.1f} min"
        f"   wall {time.monotonic() - WALL_START:4.1f} s" + ("   [green]done[/]" if done else "")
    )
    message = drain.get("message", "")
    why = "".join(
        f"\n[red]why[/]: {f['subject']}: {f['cause']} ({f['tasks']} tasks): {f['detail']}"
        for f in drain.get("diagnosis") or []
    )
    traffic = world.sim.traffic
    served = ""
    if traffic is not None:
        failed = traffic.total_failed
        style = "green" if not failed else "red"
        served = f"\nrequests: served {traffic.requests - failed}, [{style}]failed {failed}[/]"
    return Group(Panel(head + served + (f"\n{message}" if message else "") + why), table)


WALL_START = time.monotonic()


def picture(
    world: World,
    tries: list[tuple[float, Answer | None]],
    started: float,
    path: Path,
    others: dict[str, strategies.Run],
    preflight: Answer | None = None,
) -> Path:
    """Tasks per instance of each fleet (a line ends when its instance is gone; an instance that never registered is
    drawn as such), a marker for the preflight's answer and per drain try, and the requests per 10 s. The time axis
    is ecs-drain's run and 5 minutes after; another strategy's failures that go on past it are said at its edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = world.sim.record.samples
    old = {world.sim.ec2_id(i) for i in world.old.container_ids} | set(world.old.ec2_ids)
    names = sorted({name for _, counts in samples for name in counts})
    registered = set(world.sim.ec2_ids.values())
    never = sorted(set(world.new.ec2_ids) - registered) if world.new is not None and world.sim.watched else []
    fleets = [(True, "old fleet: tasks\nnot yet STOPPED"), (False, "new fleet: tasks")]
    fleets = [
        (is_old, label)
        for is_old, label in fleets
        if any((n in old) == is_old for n in names) or (not is_old and never)
    ]
    traffic = world.sim.traffic is not None
    heights = [3] * len(fleets) + ([2] if traffic else [])
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(11, 2.6 * len(heights) + 1),
        dpi=110,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    panels = [a[0] for a in axes]
    end = run_end(world, started)
    for axis, (is_old, label) in zip(panels, fleets, strict=False):
        shown = [n for n in names if (n in old) == is_old]
        ends = {n: min(end, (world.sim.record.gone_at.get(n, started + end * 60) - started) / 60) for n in shown}
        _fleet_panel(axis, shown, samples, started, label, ends, set(world.sim.record.gone_at))
        if not is_old:
            deleted = world.new is not None and world.new.deleted
            _never_registered(axis, never, end, "deleted before it registered" if deleted else "never registered")
    _try_markers(panels[: len(fleets)], tries, started, preflight, end)
    if traffic:
        _requests_panel(panels[-1], world, started, others, end)
    panels[-1].set_xlim(0, end)
    panels[-1].set_xlabel(axis_label(world, started, end))
    panels[0].set_title(title(world, tries, bool(fleets)))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# A measuring window up to this long is drawn whole, so the picture shows what the request counts cover; a longer one
# (a strategy that keeps the old fleet for hours) would squeeze ecs-drain's minutes to a few pixels: the picture then
# ends 5 minutes after ecs-drain's run settled, and its axis says so.
WHOLE_WINDOW_MINUTES = 30


def run_end(world: World, started: float) -> float:
    """Minutes from the update to the end of the measuring window; or, past WHOLE_WINDOW_MINUTES (or with no
    traffic), to 5 minutes after ecs-drain's run settled: the old fleet gone, or the stack's last status."""
    window = (window_end(world) - started) / 60
    if window <= WHOLE_WINDOW_MINUTES:
        return window
    settled = world.old_fleet_gone_at or max((t for t, _ in world.cfn.statuses), default=started)
    return min(window, (settled + strategies.RECOVERY_SECONDS - started) / 60)


def window_end(world: World) -> float:
    """When the requests stop being counted (never, with no traffic)."""
    return world.sim.traffic.counting_until if world.sim.traffic is not None else math.inf


def axis_label(world: World, started: float, end: float) -> str:
    """What the time axis covers, and, where it ends before the measuring window, why."""
    window = (window_end(world) - started) / 60
    label = "simulated minutes since the stack update"
    if end < window < math.inf:
        label += (
            f"\n(shown to {end:.0f} of the {window:.0f} minutes the requests are counted over: "
            f"{strategies.RECOVERY_SECONDS // 60} after ecs-drain's run settled; later failures noted at the right)"
        )
    return label


def title(world: World, tries: list[tuple[float, Answer | None]], lines: bool) -> str:
    """What happened, in the picture's words."""
    answer = tries[-1][1] if tries else None
    if world.cfn.status.startswith("UPDATE_ROLLBACK"):
        happened = "the preflight failed the update: rolled back, the old fleet kept"
    elif answer is None:
        happened = "no drain ran" if world.old_fleet_gone_at is None else "no answer: the old fleet deleted"
    elif "Drained" in answer.body["Reason"] or "nothing" in answer.body["Reason"]:
        happened = "drained, then the old fleet deleted" if world.old_fleet_gone_at else "nothing to drain"
    elif "blocked" in answer.body["Reason"].lower():
        happened = f"blocked ({answer.body['Status']}), then the old fleet deleted"
    else:
        happened = f"deadline ({answer.body['Status']}), then the old fleet deleted"
    what = "tasks per container instance" if lines else "requests (too many instances to draw a line for each)"
    return f"ecs-drain: {what}: {happened}"


def _never_registered(axis: Any, never: list[str], end: float, why: str) -> None:
    """The new fleet's instances that ran in EC2 but never registered in the cluster (their agent never started, or
    a rollback deleted them first)."""
    for name in never:
        axis.plot([0, end], [0, 0], linestyle="--", color="tab:gray", linewidth=1.2, label=f"{name}: {why}")
    if never:
        axis.set_ylim(bottom=-0.2, top=max(1.0, axis.get_ylim()[1]))
        axis.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _fleet_panel(
    axis: Any,
    names: list[str],
    samples: list[tuple[float, dict[str, int]]],
    started: float,
    label: str,
    ends: dict[str, float],
    terminated: set[str],
) -> None:
    """A line per instance, ending when its instance is gone (with an x where tasks were still on it) or at the end
    of the run."""
    killed = False
    for offset, name in enumerate(names):
        points = [
            ((t - started) / 60, counts[name] + offset * 0.04)
            for t, counts in samples
            if name in counts and (t - started) / 60 < ends[name]
        ]
        if not points:
            continue
        points.append((ends[name], points[-1][1]))
        xs, ys = zip(*points, strict=True)
        (line,) = axis.step(xs, ys, where="post", label=name, linewidth=1.4)
        if name in terminated and ys[-1] >= 1:
            axis.plot([xs[-1]], [ys[-1]], marker="x", markersize=9, color=line.get_color())
            killed = True
    if killed:
        axis.plot([], [], marker="x", linestyle="", color="black", label="terminated with tasks on it")
    axis.grid(alpha=0.3)
    highest = max((count for _, counts in samples for n, count in counts.items() if n in names), default=1)
    axis.set_ylim(bottom=0, top=highest * 1.6 + 0.5)  # room above the lines for the markers' labels
    axis.yaxis.get_major_locator().set_params(integer=True)
    axis.set_ylabel(label)
    # Outside the plot: a legend inside covers the lines it names (none for a panel of no line yet).
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _try_markers(
    axes: list[Any],
    tries: list[tuple[float, Answer | None]],
    started: float,
    preflight: Answer | None = None,
    end: float = math.inf,
) -> None:
    """A marker for the preflight's answer to the Update, and per drain try: where it set instances DRAINING, and
    where CloudFormation got its answer; labels at their own heights so none covers another."""
    marks: list[tuple[float, str, str]] = []
    if preflight is not None:
        status = preflight.body["Status"]
        said = (
            "preflight answered SUCCESS"
            if status == "SUCCESS"
            else "preflight answered FAILED: CloudFormation rolls back"
        )
        marks.append((preflight.at, said, "tab:blue" if status == "SUCCESS" else "tab:red"))
    for n, (draining_at, answer) in enumerate(tries, start=1):
        name = f"try {n}: " if len(tries) > 1 else ""
        if draining_at:
            marks.append((draining_at, f"{name}set DRAINING", "tab:olive"))
        if answer is not None:
            marks.append((answer.at, f"{name}answered {answer.body['Status']}", "tab:gray"))
    if not axes:
        return
    top = axes[0]
    for k, (at, label, color) in enumerate(sorted(marks)):
        x = (at - started) / 60
        for axis in axes:
            axis.axvline(x, color=color, linestyle=":", linewidth=1)
        right = x > 0.6 * end  # a label near the right edge reads leftwards, so the edge does not cut it
        top.annotate(
            label,
            (x, 0.97 - 0.11 * (k % 3)),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            ha="right" if right else "left",
            va="top",
            color=color,
            xytext=(-3 if right else 3, -2),
            textcoords="offset points",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},  # readable over lines
        )


STYLES = {"seed": ("tab:orange", "--"), "none": ("tab:purple", ":")}


def _requests_panel(axis: Any, world: World, started: float, others: dict[str, strategies.Run], end: float) -> None:
    """Requests served and failed per 10 s under ecs-drain, and the failures of the other strategies, up to `end`
    minutes; where another's failures go on past it, the right edge says how many more, and until when."""
    traffic = world.sim.traffic
    assert traffic is not None
    last = int(started + end * 60)

    def per_10s(counts: dict[int, int]) -> tuple[list[float], list[int]]:
        buckets = range(int(started), last - 9, 10)  # whole buckets only
        return [(b - started) / 60 for b in buckets], [sum(counts.get(b + i, 0) for i in range(10)) for b in buckets]

    xs, arrived = per_10s(traffic.arrived_at)
    _, failed = per_10s(traffic.failed_at)
    served = [a - f for a, f in zip(arrived, failed, strict=True)]
    # Served as a pale area, failures as lines over it: a failure line at the served height stays visible.
    axis.fill_between(xs, served, step="post", color="tab:blue", alpha=0.15, label="ecs-drain: served")
    label = f"ecs-drain: failed ({traffic.total_failed:,})"
    axis.step(xs, failed, where="post", label=label, color="tab:red", linewidth=1.8)
    tails = []
    later_own = sum(n for t, n in traffic.failed_at.items() if t >= last)
    if later_own:
        tails.append((f"ecs-drain: {later_own:,} more failed after this \u2192", "tab:red"))
    for name, other in others.items():
        xs_other, failed_other = per_10s(other.traffic.failed_at)
        color, style = STYLES.get(name, ("tab:green", "-."))
        label = f"{name}: failed ({other.failed:,}" + (", still at the end)" if other.failing_at_end else ")")
        axis.step(xs_other, failed_other, where="post", label=label, color=color, linestyle=style, linewidth=1.8)
        later = sum(n for t, n in other.traffic.failed_at.items() if t >= last)
        if later:
            until = (
                f"failing when the window ends ({other.window_seconds / 60:.0f} min)"
                if other.failing_at_end
                else f"the last at {(max(other.traffic.failed_at) - started) / 60:.0f} min"
            )
            tails.append((f"{name}: {later:,} more failed after this, {until} \u2192", color))
    for k, (text, color) in enumerate(tails):
        axis.annotate(
            text,
            (1.0, 0.93 - 0.12 * k),
            xycoords="axes fraction",
            fontsize=7,
            ha="right",
            va="top",
            color=color,
            xytext=(-4, 0),
            textcoords="offset points",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    top = max([*served, *failed, 1])
    axis.set_ylim(bottom=0, top=top * 1.35)  # room for the tails' notes above the lines
    axis.set_ylabel("requests per 10 s")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


NOT_CLEAN = 3  # the exit status of a rollover that ran to its end but was not clean (make demo says so, no crash)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description=__doc__,
        epilog="scenarios:\n"
        + "\n".join(f"  {name:<18} {s.about}" for name, s in sorted(SCENARIOS.items()))
        + "\nin place (an Auto Scaling group's instances replaced, the group kept):\n"
        + "\n".join(f"  {name:<18} {s.about}" for name, s in IN_PLACE_SCENARIOS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scenarios = [*sorted(SCENARIOS), *IN_PLACE_SCENARIOS]
    parser.add_argument("--scenario", choices=scenarios, default="rollover", help="what to change (below)")
    parser.add_argument("--pace", type=float, default=0.02, help="wall seconds per simulated second (0: no pause)")
    parser.add_argument(
        "--out", type=Path, default=Path("out"), help="where to write demo-<scenario>.png and demo-<scenario>.json"
    )
    parser.add_argument("--no-live", action="store_true", help="no live display (for logs and CI)")
    parser.add_argument(
        "--compare",
        type=_strategy_list,
        default=None,
        help="the strategies shown beside ecs-drain, comma-separated (default: all of "
        f"{','.join(strategies.STRATEGIES[1:])}; in place, of {','.join(IN_PLACE_STRATEGIES[1:])}; '' for none)",
    )
    args = parser.parse_args(argv)
    console = Console()
    if args.scenario in IN_PLACE_SCENARIOS:
        compared = IN_PLACE_STRATEGIES[1:] if args.compare is None else args.compare
        return in_place_demo.main(args.scenario, args.out, compared, console)
    if args.compare is None:
        args.compare = strategies.STRATEGIES[1:]
    elif any(name not in strategies.STRATEGIES for name in args.compare):
        parser.error(f"--compare: a rollover compares {', '.join(strategies.STRATEGIES[1:])}")
    scenario = SCENARIOS[args.scenario]
    console.print(f"[bold]ecs-drain demo[/]: {scenario.about}")
    console.print("Everything runs offline: moto with the real template.yaml, statemachine/ and functions/.")
    if args.compare:
        console.print(f"Meanwhile the same rollover, same traffic, is measured with {_named(args.compare)}...")
    # Started first, before any world or thread, so that it can run in a process of its own.
    comparison = strategies.Comparison(args.scenario, args.compare)
    with rollover_world(pace=args.pace, log_level="WARNING", **world_options(scenario)) as world:
        world.faults.ecs_throttle_share = scenario.throttle_share
        started = world.aws.clock.now()
        result: dict[str, Any] = {}

        def run() -> None:
            result["run"] = strategies.run(world, args.scenario, "ecs-drain", scenario.policy)

        runner = threading.Thread(target=run)
        runner.start()
        at_start: dict[str, int] = {}
        if args.no_live:
            runner.join()
        else:
            with Live(render(world, args.scenario, started, False, at_start), console=console) as live:
                while runner.is_alive():
                    live.update(render(world, args.scenario, started, False, at_start))
                    time.sleep(0.125)
                live.update(render(world, args.scenario, started, True, at_start))
        runner.join()
        others = comparison.runs()
        runs = [result["run"], *others.values()]
        console.print()  # the live table ends its line: what follows starts on its own
        clean = report(console, world, args, started, others, runs[0])
    console.print(traffic_table(runs))
    summary = args.out / f"demo-{args.scenario}.json"
    summary.write_text(
        json.dumps({"scenario": args.scenario, "clean": clean, "runs": [r.row() for r in runs]}, indent=1)
    )
    console.print(f"Summary: {summary}")
    console.print("failed requests: " + ", ".join(f"{r.strategy} {r.failed}" for r in runs))
    return 0 if clean else NOT_CLEAN


def _strategy_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    known = {*strategies.STRATEGIES[1:], *IN_PLACE_STRATEGIES[1:]}
    unknown = [name for name in names if name not in known]
    if unknown:
        choose = ", ".join(sorted(known))
        raise argparse.ArgumentTypeError(f"unknown strategy {', '.join(unknown)}: choose from {choose}")
    return names


def _named(compared: tuple[str, ...]) -> str:
    about = {"ecs-drain-no-preflight": "ecs-drain's preflight off", "seed": "the seed rule", "none": "no drain at all"}
    said = [about[name] for name in compared]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def traffic_table(runs: list[strategies.Run]) -> Table:
    """The strategies side by side, over one window, within 80 columns."""
    window = runs[0].window_seconds / 60
    table = Table(
        title=f"what users saw: the same update and traffic under each strategy, {window:.0f} minutes from the "
        f"update ({runs[0].requests:,} requests each)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption="503: no healthy target; 502: its instance was terminated; kill: cut at the stop timeout; "
        "*: still failing, or a service without a task, when the window ends",
    )
    headers = {"no_healthy_target": "503", "killed_with_instance": "502", "killed_at_stop_timeout": "kill"}
    for column in ("strategy", "failed", *(headers[c] for c in CAUSES), "tasks\nkilled", "old fleet\nkept s"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("answer", no_wrap=True)
    for run in runs:
        table.add_row(
            run.strategy.replace("-no-preflight", "\nno preflight"),
            f"{run.failed:,}" + ("*" if run.failing_at_end or run.down_at_end else ""),
            *(f"{run.causes.get(cause, 0):,}" for cause in CAUSES),
            str(run.tasks_killed),
            "kept" if run.old_fleet == "kept" else f"{run.cleanup_seconds:,.0f}",
            "rollback" if run.stack_status.startswith("UPDATE_ROLLBACK") else run.answer,
        )
    return table


def drains(world: World) -> list[dict[str, Any]]:
    """The drain state each execution last reported, oldest execution first (a Delete tried again is a new one)."""
    sfn = world.aws.sfn()
    listed = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
    listed = [e for e in listed if PREFLIGHT_SUFFIX not in e["name"]]
    return [latest_drain(sfn, e["executionArn"]) for e in sorted(listed, key=lambda e: e["startDate"])]


def drain_tries(world: World) -> list[tuple[float, Answer | None]]:
    """Each Delete try of the cleanup: when its drain set instances DRAINING (0: never), and its answer."""
    set_at = [(drain.get("timeline") or {}).get("drainingSetAt", 0.0) for drain in drains(world)]
    answers = [answer for _, answer in world.cfn.delete_tries]
    return [(set_at[n] if n < len(set_at) else 0.0, answer) for n, answer in enumerate(answers)]


def report(
    console: Console,
    world: World,
    args: argparse.Namespace,
    started: float,
    others: dict[str, strategies.Run],
    run: strategies.Run,
) -> bool:
    """The timeline, the calls, the answer and the picture; then whether the rollover was clean, and if not, what
    the drain could and could not prevent. True when clean."""
    console.print(_timeline(world, started))
    summary = {}
    for execution in world.aws.sfn().list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]:
        if PREFLIGHT_SUFFIX in execution["name"]:
            continue
        output = world.aws.sfn().describe_execution(executionArn=execution["executionArn"]).get("output")
        summary = json.loads(output) if output else {"status": execution["status"]}
    if summary:
        shown = ("outcome", "instances", "tasksAtStart", "standaloneTasksStopped", "checks", "phaseSeconds")
        console.print(
            Panel(json.dumps({k: summary.get(k) for k in shown}, indent=1), title="execution output (summary)")
        )
    calls = Table(title="AWS calls made by the DrainFunction (the preflight and the drain)")
    calls.add_column("API")
    calls.add_column("calls", justify="right")
    for action, n in sorted(world.aws.calls.by_action(caller="DrainFunction").items()):
        calls.add_row(action, str(n))
    calls.add_row("throttled (injected)", str(world.aws.calls.throttled))
    console.print(calls)
    tries = drain_tries(world)
    answer = tries[-1][1] if tries else None
    update = world.cfn.update_answer
    preflight = update if update is not None and update.body["Reason"].startswith("Preflight") else None
    for title, shown in (
        ("the answer CloudFormation got for the Update (the preflight)", preflight),
        ("the answer CloudFormation got for the Delete of the old fleet", answer),
    ):
        if shown is not None:
            body = shown.body
            console.print(
                Panel(
                    f"Status: {body['Status']}\nReason: {body['Reason']}\n"
                    f"PhysicalResourceId: {body['PhysicalResourceId']}",
                    title=title,
                )
            )
    if answer is None and not world.cfn.status.startswith("UPDATE_ROLLBACK"):
        console.print("[red]CloudFormation got no answer.[/]")
    path = picture(world, tries, started, args.out / f"demo-{args.scenario}.png", others, preflight)
    console.print(f"Picture of tasks per instance over time: [bold]{path}[/]")
    for line in verdict(world, answer, run):
        console.print(line)
    return (
        answer is not None
        and answer.body["Status"] == "SUCCESS"
        and not run.tasks_killed
        and not run.failed
        and not _below_minimum(world)
    )


def verdict(world: World, answer: Answer | None, run: strategies.Run) -> list[str]:
    """What happened, in words: clean, rolled back, or what users saw and what the drain could and could not
    prevent; where another stack rolled at once, what became of it too."""
    lines = _verdict(world, answer, run)
    other = world.second
    if other is None or other.cfn is world.cfn:
        return lines
    update = other.cfn.update_answer
    if other.cfn.status.startswith("UPDATE_ROLLBACK"):
        said = update.body["Reason"] if update is not None else "no answer"
        lines.append(
            f"The other stack ({other.cfn.stack_name}) ended {other.cfn.status}: its old fleet still serves; its "
            f"Update was answered: {said[:160]}..."
        )
    else:
        lines.append(f"The other stack ({other.cfn.stack_name}) ended {other.cfn.status}.")
    return lines


def _verdict(world: World, answer: Answer | None, run: strategies.Run) -> list[str]:
    below = _below_minimum(world)
    status = answer.body["Status"] if answer is not None else "no answer"
    if run.stack_status.startswith("UPDATE_ROLLBACK"):
        drained = bool(world.sim.record.draining_set_at.keys() & set(world.old.container_ids))
        safe = run.stack_status == "UPDATE_ROLLBACK_COMPLETE" and not run.failed and not run.old_tasks_killed
        lines = [
            f"[{'green' if safe else 'yellow'}]Rolled back[/] (exit status {NOT_CLEAN}): the preflight answered the "
            f"Update FAILED, the stack ended {run.stack_status}, the old fleet still serves"
            + (", nothing on it was drained, and no request failed." if safe and not drained else ".")
        ]
        if run.tasks_killed:
            lines.append(
                f"  {run.tasks_killed} tasks ECS had placed on the new fleet went with it ({run.old_tasks_killed} on "
                "the old fleet)."
            )
        if run.failed:
            lines.append(f"  {run.failed:,} of {run.requests:,} requests failed.")
        return lines
    if status == "SUCCESS" and not run.tasks_killed and not run.failed and not below:
        return [
            "[green]Clean[/]: CloudFormation got SUCCESS, no task was stopped before its replacement ran, and no "
            "request failed."
        ]
    if status == "SUCCESS" and not run.old_tasks_killed and not run.failed and not below and world.second:
        return [
            f"[yellow]Rolled back elsewhere[/] (exit status {NOT_CLEAN}): this stack's drain was clean "
            f"(CloudFormation got SUCCESS, no request failed); the {run.tasks_killed} tasks killed were ECS's on the "
            "other stack's new fleet, which its rollback deleted."
        ]
    lines = [f"[yellow]Not a clean rollover[/] (exit status {NOT_CLEAN}): CloudFormation got {status}."]
    if run.old_tasks_killed:
        lines.append(
            f"  {run.old_tasks_killed} tasks were killed with their instance (the old fleet was deleted with them)."
        )
    if below:
        named = ", ".join(f"{name} (down to {lowest} healthy)" for name, lowest in sorted(below.items()))
        lines.append(f"  Below their minimum healthy count: {named}.")
    if run.failed:
        causes = ", ".join(f"{n:,} {cause.replace('_', ' ')}" for cause, n in sorted(run.causes.items()) if n)
        lines.append(f"  {run.failed:,} of {run.requests:,} requests failed ({causes}).")
    if run.failed and not run.tasks_killed and status == "SUCCESS":
        lines.append(
            "  The drain killed no task; the failures come from the services' own configuration (see the warning "
            "in the Reason)."
        )
    return lines


def _below_minimum(world: World) -> dict[str, int]:
    lowest = world.sim.record.lowest_healthy
    return {
        s.name: lowest.get(s.name, 0)
        for s in world.sim.services.values()
        if not s.daemon and s.name in lowest and lowest[s.name] < -(-s.desired * s.min_healthy_percent // 100)
    }


def _timeline(world: World, started: float) -> Table:
    timeline = Table(title="timeline (simulated)")
    timeline.add_column("at")
    timeline.add_column("what")
    phases = {
        "capacityReadyAt": "spare capacity is enough",
        "drainingSetAt": "old instances set DRAINING",
        "endedAt": "ended",
    }
    every = drains(world)
    drained = []
    for n, drain in enumerate(every, start=1):
        label = f"drain (try {n})" if len(every) > 1 else "drain"
        for key, at in (drain.get("timeline") or {}).items():
            if key in phases:
                what = f"{phases[key]} {drain.get('phase', '')}" if key == "endedAt" else phases[key]
                drained.append((at, f"{label}: {what}"))
    events = sorted(
        [e for e in world.cfn.events + world.sim.record.events + drained if e[0] >= started], key=lambda e: e[0]
    )
    for at, what in events:
        timeline.add_row(f"{(at - started) / 60:5.1f} min", what)
    return timeline


if __name__ == "__main__":
    raise SystemExit(main())
