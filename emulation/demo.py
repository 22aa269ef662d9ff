"""`make demo`: an AMI rollover drained offline, watched live, with a picture of tasks per instance.

Exit status 0 only if CloudFormation got SUCCESS and no task was stopped before its replacement ran.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table

from ecs_drain_cli.executions import latest_drain

from .cloudformation import Answer
from .ecs_simulator import ServiceSpec
from .scenarios import World, default_services, pinned_services, rollover_world


@dataclass(frozen=True)
class Scenario:
    about: str
    policy: dict[str, str]
    options: dict[str, Any]


SCENARIOS: dict[str, Scenario] = {
    "rollover": Scenario("A new Spot Fleet comes up and registers; the old one is drained, then deleted.", {}, {}),
    "no-capacity": Scenario(
        "The new fleet never registers: nothing is set DRAINING; at the deadline OnTimeout=FAIL answers FAILED, and "
        "CloudFormation tries the Delete three times before it skips it and its cleanup goes on.",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "FAIL"},
        {"new_fleet_registers": (10**9, 10**9)},
    ),
    "standalone-wait": Scenario(
        "A standalone job runs on an old instance; StandaloneTasks=WAIT waits for it to finish (15 min).",
        {"StandaloneTasks": "WAIT"},
        {"standalone": [(0, 900.0)]},
    ),
    "standalone-stop": Scenario(
        "A standalone job that never ends; StandaloneTasks=STOP stops it once draining begins.",
        {"StandaloneTasks": "STOP"},
        {"standalone": [(0, None)]},
    ),
    "deadline-continue": Scenario(
        "A job outlives the 10-minute deadline; OnTimeout=CONTINUE answers SUCCESS and names what still runs.",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "CONTINUE"},
        {"standalone": [(1, None)]},
    ),
    "deadline-fail": Scenario(
        "A job outlives the 10-minute deadline; OnTimeout=FAIL answers FAILED; CloudFormation tries the Delete three "
        "times (three drains), then skips it and its cleanup goes on.",
        {"DrainTimeoutSeconds": "600", "OnTimeout": "FAIL"},
        {"standalone": [(1, None)]},
    ),
    "blocked": Scenario(
        "Service `pinned` has minimumHealthyPercent 100 and maximumPercent 100: ECS can never move its tasks. The "
        "drain says so at once, answers once the other services have left (BlockedTimeoutSeconds=60, OnTimeout=FAIL),"
        " and answers CloudFormation's two retries at once.",
        {"BlockedTimeoutSeconds": "60", "OnTimeout": "FAIL"},
        {"services": "pinned"},
    ),
    "throttling": Scenario("Half of all ECS calls are throttled; the SDK and the state machine retry.", {}, {}),
    "big": Scenario(
        "A 40-instance fleet replaced by another, 4 services.",
        {},
        {"old_instances": 40, "new_instances": 40, "services": "big"},
    ),
}


def big_services() -> list[ServiceSpec]:
    return [
        *default_services(),
        ServiceSpec("api", cpu=512, memory=1024, desired=40, deregistration_delay=60),
        ServiceSpec("search", cpu=1024, memory=1536, desired=20, min_healthy_percent=50, max_percent=100),
    ]


def render(world: World, name: str, started: float, done: bool) -> Group:
    snapshot = world.sim.snapshot()
    drain = (world.aws.last_result.get("DrainFunction") or {}).get("drain") or {}
    phase = drain.get("phase", "waiting for CloudFormation")
    old, new = set(world.old.container_ids), set(world.new.container_ids if world.new else [])
    table = Table(expand=False, title=f"cluster {world.sim.cluster}: container instances")
    for column in ("fleet", "EC2 instance", "status", "running", "stopping", "pending", "tasks left"):
        table.add_column(column)
    at_start = max(1, max((r["running"] + r["stopping"] for r in snapshot["instances"]), default=1))

    def fleet_of(row: dict[str, Any]) -> str:
        return "old" if row["instance"] in old else "new" if row["instance"] in new else "-"

    for row in sorted(snapshot["instances"], key=lambda r: (fleet_of(r) != "old", r["ec2"])):
        fleet = fleet_of(row)
        left = row["running"] + row["stopping"] + row["pending"]
        bar = ProgressBar(total=at_start, completed=left, width=20) if fleet == "old" else ""
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
    return Group(Panel(head + (f"\n{message}" if message else "") + why), table)


WALL_START = time.monotonic()


def picture(world: World, answer: Answer | None, started: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = world.sim.record.samples
    old = {world.sim.ec2_id(i) for i in world.old.container_ids} | set(world.old.ec2_ids)
    names = sorted({name for _, counts in samples for name in counts})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), dpi=110, sharex=True)
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
    bottom.set_xlabel("simulated minutes since the stack update")
    top.set_title("ecs-drain: tasks per container instance during the rollover")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="rollover")
    parser.add_argument("--pace", type=float, default=0.02, help="wall seconds per simulated second (0: no pause)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="where to write the picture and summary")
    parser.add_argument("--no-live", action="store_true", help="no live display (for logs and CI)")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    options = dict(scenario.options)
    if options.get("services") == "big":
        options["services"] = big_services()
    elif options.get("services") == "pinned":
        options["services"] = pinned_services()
    console = Console()
    console.print(f"[bold]ecs-drain demo[/]: {scenario.about}")
    console.print("Everything runs offline: moto with the real template.yaml, statemachine/ and functions/.")
    with rollover_world(pace=args.pace, log_level="WARNING", **options) as world:
        if args.scenario == "throttling":
            world.faults.ecs_throttle_share = 0.5
        started = world.aws.clock.now()
        result: dict[str, Any] = {}

        def run() -> None:
            result["update"], result["answer"] = world.rollover(**scenario.policy)

        runner = threading.Thread(target=run)
        runner.start()
        if args.no_live:
            runner.join()
        else:
            with Live(render(world, args.scenario, started, False), console=console, refresh_per_second=8) as live:
                while runner.is_alive():
                    live.update(render(world, args.scenario, started, False))
                    time.sleep(0.125)
                live.update(render(world, args.scenario, started, True))
        runner.join()
        return report(console, world, args, started, result.get("answer"))


def report(console: Console, world: World, args: argparse.Namespace, started: float, answer: Answer | None) -> int:
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
    path = picture(world, answer, started, args.out / f"demo-{args.scenario}.png")
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
