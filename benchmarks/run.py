"""`make bench`: the engine's cost against cluster size, and what a drain costs, measured on the emulation.

Prints a markdown table and writes benchmarks/results.json. Every figure is measured in this run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emulation.scenarios import World, rollover_world, services

HERE = Path(__file__).resolve().parent
GRID = [(c, t) for c in (10, 100, 1000, 5000) for t in (1, 10, 100, 1000) if t <= c]
# List prices, us-east-1, 2026: Step Functions Standard per state transition; Lambda per request and per
# GB-second on arm64.
USD_PER_TRANSITION = 0.000025
USD_PER_LAMBDA_REQUEST = 0.20 / 1_000_000
USD_PER_GB_SECOND = 0.0000133334
DRAIN_MEMORY_GB = 0.5
POLL_SECONDS = 15
COLUMNS = [
    "cluster_instances",
    "targets",
    "strategy",
    "first_check_calls",
    "later_check_calls",
    "state_bytes_max",
    "history_events_per_hour",
    "usd_per_hour",
    "detect_latency_s",
]


def measure(cluster: int, targets: int, strategy: str, tasks_per_instance: int = 1) -> dict[str, Any]:
    """`cluster` instances, `targets` of them the old fleet; the replacement fleet (as many instances as the
    targets) has registered, so the other instances number `cluster` in all while the targets drain."""
    with rollover_world(
        old_instances=targets,
        new_instances=cluster,
        new_fleet_registers=None,
        services=services(cluster, tasks_per_instance),
        log_level="WARNING",
    ) as world:
        if strategy == "naive":
            world.aws.functions["DrainFunction"].handler = "benchmarks.naive.handler"
        _request, answer = world.drain_old(wall_seconds=1800)
        assert answer is not None, "no answer"
        return row(world, cluster, targets, strategy, answer.at)


def row(world: World, cluster: int, targets: int, strategy: str, answered_at: float) -> dict[str, Any]:
    steps = [i for i in world.aws.invocations if i.function == "DrainFunction"]
    checks = [i for i in steps if i.action == "check"]

    def ec2_ecs(invocation: Any) -> int:
        return sum(n for api, n in invocation.calls.items() if api.startswith(("ecs:", "ec2:", "autoscaling:")))

    first = sum(ec2_ecs(i) for i in steps if i.action == "plan") + (ec2_ecs(checks[0]) if checks else 0)
    later = [ec2_ecs(i) for i in checks[1:]]
    sfn = world.aws.sfn()
    (execution,) = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    sizes = [
        len(e[k].get(field) or "")
        for e in events
        for k, field in (("stateEnteredEventDetails", "input"), ("stateExitedEventDetails", "output"))
        if k in e
    ]
    # One loop (Wait, check Task, Choice) in the real history, times the loops an hour holds.
    scheduled = [n for n, e in enumerate(events) if e["type"] == "TaskScheduled"][1:-1]  # the checks
    loops_per_hour = 3600 / POLL_SECONDS
    per_loop = transitions_per_loop = None
    if len(scheduled) >= 2:
        per_loop = (scheduled[-1] - scheduled[0]) / (len(scheduled) - 1)
        loop = events[scheduled[0] : scheduled[1]]
        transitions_per_loop = sum(1 for e in loop if e["type"].endswith("StateEntered"))
    seconds = [i.seconds for i in checks[1:]] or [0.0]
    gb_seconds = DRAIN_MEMORY_GB * max(0.001, sum(seconds) / len(seconds))  # measured in-process: an estimate
    usd = None
    if transitions_per_loop is not None:
        usd = loops_per_hour * (
            transitions_per_loop * USD_PER_TRANSITION + USD_PER_LAMBDA_REQUEST + gb_seconds * USD_PER_GB_SECOND
        )
    stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in world.old.container_ids]
    still_running = sum(1 for s in stopped if s is None or s > answered_at)
    last_stop = max((s for s in stopped if s is not None), default=answered_at)
    return {
        "cluster_instances": cluster,
        "targets": targets,
        "strategy": strategy,
        "first_check_calls": first,
        "later_check_calls": round(sum(later) / len(later), 1) if later else 0,
        "state_bytes_max": max(sizes, default=0),
        "history_events_per_hour": round(per_loop * loops_per_hour) if per_loop else None,
        "usd_per_hour": round(usd, 4) if usd is not None else None,
        # None: CloudFormation was answered while tasks still ran (the naive count misses stopping tasks)
        "detect_latency_s": round(answered_at - last_stop, 1) if not still_running else None,
        "tasks_not_stopped_at_answer": still_running,
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = [*COLUMNS, "tasks_not_stopped_at_answer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[c]) for c in head) + " |" for r in rows]
    return "\n".join(lines)


def large_run() -> dict[str, Any]:
    """1,000 targets, 20,000 tasks, a 5,000-instance cluster, in its own process for an honest peak memory."""
    code = (
        "import json, resource, time; from benchmarks.run import measure; t = time.monotonic(); "
        "r = measure(5000, 1000, 'ecs-drain', tasks_per_instance=4); "
        "r['wall_seconds'] = round(time.monotonic() - t, 1); "
        "r['peak_memory_mib'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); "
        "print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--max-cluster", type=int, default=5000, help="skip grid rows with larger clusters")
    parser.add_argument("--no-large", action="store_true", help="skip the 20,000-task run")
    args = parser.parse_args(argv)
    rows = []
    for cluster, targets in GRID:
        if cluster > args.max_cluster:
            continue
        for strategy in ("ecs-drain", "naive"):
            started = time.monotonic()
            rows.append(measure(cluster, targets, strategy))
            print(
                f"  measured {cluster:>5} instances, {targets:>4} targets, {strategy:<9} "
                f"in {time.monotonic() - started:5.1f} s",
                file=sys.stderr,
            )
    (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    if not args.no_large:
        large = large_run()
        (HERE / "large.json").write_text(json.dumps(large, indent=1) + "\n")
        print(
            f"\nLarge run: {large['targets']} targets, 20,000 tasks, {large['cluster_instances']} instances: "
            f"{large['wall_seconds']} s wall, peak {large['peak_memory_mib']} MiB, "
            f"state at most {large['state_bytes_max']} bytes."
        )
    print(
        f"\n(this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB; "
        f"prices: ${USD_PER_TRANSITION}/transition, ${USD_PER_LAMBDA_REQUEST * 1e6:.2f}/1M requests, "
        f"${USD_PER_GB_SECOND}/GB-s arm64, {DRAIN_MEMORY_GB} GB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
