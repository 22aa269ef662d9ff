"""`make demo`: an AMI rollover drained offline, watched live, with a picture of tasks per instance.

Exit status 0 only if CloudFormation got SUCCESS and no task was stopped before its replacement ran.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from ecs_drain_cli.lookup import latest_drain

from . import strategies
from .catalog import SCENARIOS, world_options
from .cloudformation import Answer
from .scenarios import World, rollover_world
from .traffic import CAUSES, Traffic

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
    world: World, answer: Answer | None, started: float, path: Path, others: dict[str, Traffic] | None = None
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = world.sim.record.samples
    old = {world.sim.ec2_id(i) for i in world.old.container_ids} | set(world.old.ec2_ids)
    names = sorted({name for _, counts in samples for name in counts})
    fig, (top, bottom, requests) = plt.subplots(
        3, 1, figsize=(10, 9), dpi=110, sharex=True, gridspec_kw={"height_ratios": [3, 3, 2]}
    )
    for axis, fleet in ((top, True), (bottom, False)):
        for offset, name in enumerate(n for n in names if (n in old) == fleet):
            points = [((t - started) / 60, counts[name] + offset * 0.04) for t, counts in samples if name in counts]
            points.append(((world.aws.clock.now() - started) / 60, points[-1][1]))
            xs, ys = zip(*points, strict=True)
            axis.step(xs, ys, where="post", label=name, linewidth=1.4)
        axis.grid(alpha=0.3)
        axis.set_ylim(bottom=0)
        axis.yaxis.get_major_locator().set_params(integer=True)
        axis.legend(fontsize=7, ncol=3, loc="lower right" if fleet else "upper left")
    drain = (world.aws.last_result.get("DrainFunction") or {}).get("drain") or {}
    marks = {"instances set DRAINING": (drain.get("timeline") or {}).get("drainingSetAt")}
    if answer is not None:
        marks[f"CloudFormation answered {answer.body['Status']}"] = answer.at
    for label, at in marks.items():
        if at is not None:
            for axis in (top, bottom):
                axis.axvline((at - started) / 60, color="grey", linestyle=":", linewidth=1)
            top.annotate(label, ((at - started) / 60, 0.5), rotation=90, fontsize=8, ha="right", va="bottom")
    top.set_ylabel("old fleet: tasks\nnot yet STOPPED")
    bottom.set_ylabel("new fleet: tasks")
    _requests_panel(requests, world, started, others or {})
    requests.set_xlabel("simulated minutes since the stack update")
    top.set_title("ecs-drain: tasks per container instance during the rollover")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _requests_panel(axis: Any, world: World, started: float, others: dict[str, Traffic]) -> None:
    """Requests served and failed per 10 s under ecs-drain, and the failures of the other strategies."""
    traffic = world.sim.traffic
    if traffic is None:
        return
    end = int(world.aws.clock.now())

    def per_10s(counts: dict[int, int]) -> tuple[list[float], list[int]]:
        buckets = range(int(started), end - 9, 10)  # whole buckets only
        return [(b - started) / 60 for b in buckets], [sum(counts.get(b + i, 0) for i in range(10)) for b in buckets]

    xs, arrived = per_10s(traffic.arrived_at)
    _, failed = per_10s(traffic.failed_at)
    axis.step(xs, [a - f for a, f in zip(arrived, failed, strict=True)], where="post", label="ecs-drain: served")
    axis.step(xs, failed, where="post", label="ecs-drain: failed", color="red")
    for name, other in others.items():
        xs_other, failed_other = per_10s(other.failed_at)
        axis.step(xs_other, failed_other, where="post", label=f"{name}: failed", linestyle="--", linewidth=1)
    axis.set_ylabel("requests per 10 s")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2, loc="upper right")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="rollover")
    parser.add_argument("--pace", type=float, default=0.02, help="wall seconds per simulated second (0: no pause)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where to write the picture and summary")
    parser.add_argument("--no-live", action="store_true", help="no live display (for logs and CI)")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    console = Console()
    console.print(f"[bold]ecs-drain demo[/]: {scenario.about}")
    console.print("Everything runs offline: moto with the real template.yaml, statemachine/ and functions/.")
    console.print("First the same rollover, same traffic, without ecs-drain: the seed rule, and no drain at all...")
    others = {name: strategies.measure(args.scenario, name) for name in ("seed", "none")}
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
        tries = world.cfn.delete_tries
        answer = tries[-1][1] if tries else None
        code = report(console, world, args, started, answer, {n: r.traffic for n, r in others.items()})
        runs = [result["run"], *others.values()]
    console.print(traffic_table(runs))
    console.print("failed requests: " + ", ".join(f"{r.strategy} {r.failed}" for r in runs))
    return code


def traffic_table(runs: list[strategies.Run]) -> Table:
    table = Table(title="what users saw: the same rollover and traffic under each strategy")
    headers = {"no_healthy_target": "no target (503)", "killed_with_instance": "instance gone (502)"}
    headers["killed_at_stop_timeout"] = "stop timeout"
    for column in ("strategy", "requests", "failed", *(headers[c] for c in CAUSES), "cleanup s", "answer"):
        table.add_column(column, justify="right")
    for run in runs:
        table.add_row(
            run.strategy,
            str(run.requests),
            str(run.failed),
            *(str(run.causes.get(cause, 0)) for cause in CAUSES),
            f"{run.cleanup_seconds:.0f}",
            run.answer,
        )
    return table


def report(
    console: Console,
    world: World,
    args: argparse.Namespace,
    started: float,
    answer: Answer | None,
    others: dict[str, Traffic],
) -> int:
    timeline = Table(title="timeline (simulated)")
    timeline.add_column("at")
    timeline.add_column("what")
    phases = {
        "capacityReadyAt": "spare capacity is enough",
        "drainingSetAt": "old instances set DRAINING",
        "endedAt": "ended",
    }
    sfn = world.aws.sfn()
    listed = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
    drained = []
    for n, execution in enumerate(sorted(listed, key=lambda e: e["startDate"]), start=1):
        drain = latest_drain(sfn, execution["executionArn"])
        label = f"drain (try {n})" if len(listed) > 1 else "drain"
        for key, at in (drain.get("timeline") or {}).items():
            if key in phases:
                what = f"{phases[key]} {drain.get('phase', '')}" if key == "endedAt" else phases[key]
                drained.append((at, f"{label}: {what}"))
    events = sorted(
        [e for e in world.cfn.events + world.sim.record.events + drained if e[0] >= started], key=lambda e: e[0]
    )
    for at, what in events:
        timeline.add_row(f"{(at - started) / 60:5.1f} min", what)
    console.print(timeline)
    summary = {}
    for execution in world.aws.sfn().list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]:
        output = world.aws.sfn().describe_execution(executionArn=execution["executionArn"]).get("output")
        summary = json.loads(output) if output else {"status": execution["status"]}
    if summary:
        console.print(
            Panel(
                json.dumps(
                    {
                        k: summary.get(k)
                        for k in (
                            "outcome",
                            "instances",
                            "tasksAtStart",
                            "standaloneTasksStopped",
                            "checks",
                            "phaseSeconds",
                        )
                    },
                    indent=1,
                ),
                title="execution output (summary)",
            )
        )
    calls = Table(title="AWS calls made by the drain")
    calls.add_column("API")
    calls.add_column("calls", justify="right")
    for action, n in sorted(world.aws.calls.by_action(caller="DrainFunction").items()):
        calls.add_row(action, str(n))
    calls.add_row("throttled (injected)", str(world.aws.calls.throttled))
    console.print(calls)
    if answer is None:
        console.print("[red]CloudFormation got no answer.[/]")
    else:
        console.print(
            Panel(
                f"Status: {answer.body['Status']}\nReason: {answer.body['Reason']}\n"
                f"PhysicalResourceId: {answer.body['PhysicalResourceId']}",
                title="the answer CloudFormation got for the Delete of the old fleet",
            )
        )
    killed = world.sim.record.killed
    short = {
        s.name: world.sim.record.lowest_healthy.get(s.name, 0)
        for s in world.sim.services.values()
        if not s.daemon
        and world.sim.record.lowest_healthy.get(s.name, 0) < -(-s.desired * s.min_healthy_percent // 100)
    }
    path = picture(world, answer, started, args.out / f"demo-{args.scenario}.png", others)
    console.print(f"Picture of tasks per instance over time: [bold]{path}[/]")
    console.print(
        f"Tasks killed with their instance: {len(killed)}; services below their minimum healthy: {short or 'none'}"
    )
    ok = answer is not None and answer.body["Status"] == "SUCCESS" and not killed and not short
    console.print(
        "[green]OK[/]: SUCCESS, and no task stopped before its replacement ran."
        if ok
        else "[yellow]Not a clean rollover[/] (exit status 1): see above."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
