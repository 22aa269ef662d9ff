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

from emulation.ecs_events import Delivery
from emulation.scenarios import EVENTS, Fleet, World, rollover_world, services
from emulation.throttling import CATEGORIES, CLUSTER_READ, busiest_second

AWS_APIS = ("ecs:", "ec2:", "autoscaling:")

HERE = Path(__file__).resolve().parent
GRID = [(c, t) for c in (10, 100, 1000, 5000) for t in (1, 10, 100, 1000) if t <= c]
# List prices, us-east-1, 2026: Step Functions Standard per state transition; Lambda per request and per
# GB-second on arm64; DynamoDB on-demand per write request.
USD_PER_TRANSITION = 0.000025
USD_PER_LAMBDA_REQUEST = 0.20 / 1_000_000
USD_PER_GB_SECOND = 0.0000133334
USD_PER_WRITE_REQUEST = 0.625 / 1_000_000  # DynamoDB on-demand, one write request unit (an item under 1 KB)
DRAIN_MEMORY_GB = 0.5
POLL_SECONDS = 15
DEREGISTRATION_DELAY = 300  # the ALB default: drains have their real length
READS_PER_SECOND = 10  # the provider stack's default EcsReadCallsPerSecond
MODIFY_CALLS_PER_SECOND = 20  # its default EcsModifyCallsPerSecond
# Consumer stacks x their targets, all replaced at once in one cluster of 2,000 other instances.
CONCURRENT = [(5, 200), (20, 50), (16, 400), (32, 400)]
# ECS events as EventBridge delivers them, or all lost (the fault: what the fallback on reads costs).
DELIVERIES: dict[str, Delivery] = {"on": EVENTS, "lost": Delivery(lost_share=1.0)}
LOST_ROWS = [(1000, 1000)]  # the grid rows measured again with every event lost
COLUMNS = [
    "cluster_instances",
    "targets",
    "strategy",
    "concurrent_drains",
    "events",
    "drain_calls_total",
    "ecs_reads_per_target",
    "peak_read_calls_per_second",
    "throttled_calls_drain",
    "throttled_calls_neighbour",
    "check_seconds_max",
    "budget_floor_seconds",
    "drain_seconds",
    "last_stopped_seconds",
    "overhead_seconds",
    "draining_lag_seconds",
    "state_bytes_max",
    "usd_per_hour",
    "tasks_not_stopped_at_answer",
]


def measure(
    cluster: int, targets: int, strategy: str, tasks_per_instance: int = 1, events: str = "on"
) -> dict[str, Any]:
    """`cluster` instances, `targets` of them the old fleet; the replacement fleet (as many instances as the
    targets) has registered, so the other instances number `cluster` in all while the targets drain. The neighbour
    makes 5 cluster reads a second throughout."""
    with rollover_world(
        old_instances=targets,
        new_instances=cluster,
        new_fleet_registers=None,
        services=services(cluster, tasks_per_instance, DEREGISTRATION_DELAY),
        log_level="WARNING",
        ecs_events=DELIVERIES[events],
    ) as world:
        if strategy == "naive":
            world.aws.functions["DrainFunction"].handler = "benchmarks.naive.handler"
        deleted_at = world.aws.clock.now()
        _request, answer = world.drain_old(wall_seconds=3600)
        assert answer is not None, "no answer"
        return row(world, cluster, targets, strategy, deleted_at, [answer.at], [world.old]) | {"events": events}


def measure_concurrent(stacks: int = 5, targets: int = 200, others: int = 2000, events: str = "on") -> dict[str, Any]:
    """`stacks` consumer stacks, each with a fleet of `targets` in one shared cluster of `others` other instances,
    all replaced at once: their Deletes arrive together, as a platform team's AMI roll-out sends them."""
    with rollover_world(
        ecs_events=DELIVERIES[events],
        old_instances=targets,
        new_instances=others,
        new_fleet_registers=None,
        other_old_fleets=stacks - 1,
        services=services(others, 1, DEREGISTRATION_DELAY),
        log_level="WARNING",
        create=False,
    ) as world:
        fleets = [world.old, *world.others]
        deleted_at, answers = world.drain_stacks_at_once(wall_seconds=7200)
        assert all(a is not None and a.body["Status"] == "SUCCESS" for a in answers), answers
        answered = [a.at for a in answers if a]
        result = row(world, others, targets * stacks, "ecs-drain", deleted_at, answered, fleets) | {"events": events}
        result["per_drain"] = [
            per_drain(world, fleet, deleted_at, at) for fleet, at in zip(fleets, answered, strict=True)
        ]
        return result


def per_drain(world: World, fleet: Fleet, deleted_at: float, answered_at: float) -> dict[str, Any]:
    """One drain of a concurrent row: when it answered, what it owned at its start and end, what still ran."""
    stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in set(fleet.container_ids)]
    last_stop = max((s for s in stopped if s is not None), default=deleted_at)
    draining = [world.sim.record.draining_set_at.get(i, deleted_at) for i in fleet.container_ids]
    return {
        "answer_seconds": round(answered_at - deleted_at, 1),
        "overhead_seconds": round(answered_at - last_stop, 1),
        "draining_lag_seconds": round(max(draining, default=deleted_at) - deleted_at, 1),
        "tasks_not_stopped_at_answer": sum(1 for s in stopped if s is None or s > answered_at),
    }


def row(
    world: World,
    cluster: int,
    targets: int,
    strategy: str,
    deleted_at: float,
    answered: list[float],
    fleets: list[Fleet],
) -> dict[str, Any]:
    steps = [i for i in world.aws.invocations if i.function == "DrainFunction"]
    drain_calls = world.aws.calls.ecs_calls("DrainFunction")
    reads = [c.at for c in drain_calls if CATEGORIES.get(c.action) == CLUSTER_READ]
    target_ids = {i for fleet in fleets for i in fleet.container_ids}
    stopped = [t.stopped_at for t in world.sim.tasks.values() if t.instance_id in target_ids]
    answered_at = max(answered)
    still_running = sum(1 for s in stopped if s is None or s > answered_at)
    last_stop = max((s for s in stopped if s is not None), default=deleted_at)
    set_draining = [c.at for c in drain_calls if c.action == "UpdateContainerInstancesState" and not c.throttled]
    # Room for the targets' tasks is there before the Delete (the new capacity registered first), so the lag runs
    # from the Delete to the last UpdateContainerInstancesState.
    lag = max(set_draining, default=deleted_at) - deleted_at
    return {
        "cluster_instances": cluster,
        "targets": targets,
        "strategy": strategy,
        "concurrent_drains": len(fleets),
        "drain_calls_total": sum(
            n for api, n in world.aws.calls.by_action(caller="DrainFunction").items() if api.startswith(AWS_APIS)
        ),
        "ecs_reads_per_target": round(len(reads) / max(1, targets), 3),
        "peak_read_calls_per_second": busiest_second(reads),
        # The time the budget alone imposes: the cluster reads the drains made, at the read rate.
        "budget_floor_seconds": round(len(reads) / READS_PER_SECOND, 1),
        # The least draining lag the modify share allows: UpdateContainerInstancesState takes at most 10 instances.
        "modify_floor_seconds": round(len(set_draining) / MODIFY_CALLS_PER_SECOND, 1),
        "throttled_calls_drain": sum(1 for c in drain_calls if c.throttled),
        "throttled_calls_neighbour": world.account.neighbour.throttled,
        "check_seconds_max": round(max((i.sim_seconds for i in steps), default=0.0), 1),
        "drain_seconds": round(answered_at - deleted_at, 1),
        "last_stopped_seconds": round(last_stop - deleted_at, 1),
        "overhead_seconds": round(answered_at - last_stop, 1),
        "draining_lag_seconds": round(lag, 1),
        "state_bytes_max": _state_bytes_max(world),
        "usd_per_hour": _usd_per_hour(world, steps),
        # not 0: CloudFormation was answered while tasks still ran (the naive count misses stopping tasks)
        "tasks_not_stopped_at_answer": still_running,
    }


def _history(world: World) -> list[list[dict[str, Any]]]:
    sfn = world.aws.sfn()
    executions = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]
    return [sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"] for e in executions]


def _state_bytes_max(world: World) -> int:
    return max(
        (
            len(e[k].get(field) or "")
            for events in _history(world)
            for e in events
            for k, field in (("stateEnteredEventDetails", "input"), ("stateExitedEventDetails", "output"))
            if k in e
        ),
        default=0,
    )


def _is_check(parameters: str) -> bool:
    """A drain task that checks (not the plan: the first check of a drain, before it has a state of its own)."""
    from ecs_drain.handlers.drain import step_action  # the product's own reading of a step

    payload = json.loads(parameters)["Payload"]
    return bool(payload.get("Action") == "check" and step_action(payload) == "check")


def _usd_per_hour(world: World, steps: list[Any]) -> float | None:
    """One loop (the check, its Choice, the wait for the tasks) an hour's worth of times, at the checks' and waits'
    simulated duration, with their DynamoDB writes (the call budget's bookings, the watch's)."""
    events = _history(world)[0]
    checks_scheduled = [
        n
        for n, e in enumerate(events)
        if e["type"] == "TaskScheduled" and _is_check(e["taskScheduledEventDetails"]["parameters"])
    ]
    if len(checks_scheduled) < 2:
        return None
    loop = events[checks_scheduled[0] : checks_scheduled[1]]
    transitions_per_loop = sum(1 for e in loop if e["type"].endswith("StateEntered"))
    cost = transitions_per_loop * USD_PER_TRANSITION
    for action in ("check", "wait"):
        invocations = [i for i in steps if i.action == action]
        if not invocations:
            continue
        seconds = sum(i.sim_seconds for i in invocations) / len(invocations)
        writes = sum(i.calls["dynamodb:UpdateItem"] + i.calls["dynamodb:BatchWriteItem"] for i in invocations)
        cost += (
            USD_PER_LAMBDA_REQUEST
            + DRAIN_MEMORY_GB * max(0.001, seconds) * USD_PER_GB_SECOND
            + writes / len(invocations) * USD_PER_WRITE_REQUEST
        )
    return round(3600 / POLL_SECONDS * cost, 4)


def table(rows: list[dict[str, Any]]) -> str:
    head = COLUMNS
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[c]) for c in head) + " |" for r in rows]
    return "\n".join(lines)


def concurrent_table(rows: list[dict[str, Any]]) -> str:
    """The concurrent rows, per drain: the range of answers, and the worst of what each drain owns."""
    lines = [
        "| stacks x targets | events | answers (s after the Deletes) | last STOPPED (s) | ecs_reads_per_target | "
        "budget_floor_seconds | overhead_seconds max | draining_lag_seconds max | modify_floor_seconds | "
        "tasks_not_stopped_at_answer | peak reads/s | throttled drain / neighbour |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        drains = r["per_drain"]
        answers = [d["answer_seconds"] for d in drains]
        lines.append(
            f"| {r['concurrent_drains']} x {r['targets'] // r['concurrent_drains']} | {r['events']} "
            f"| {min(answers)} to {max(answers)} | {r['last_stopped_seconds']} | {r['ecs_reads_per_target']} "
            f"| {r['budget_floor_seconds']} | {max(d['overhead_seconds'] for d in drains)} "
            f"| {max(d['draining_lag_seconds'] for d in drains)} | {r.get('modify_floor_seconds', '-')} "
            f"| {sum(d['tasks_not_stopped_at_answer'] for d in drains)} | {r['peak_read_calls_per_second']} "
            f"| {r['throttled_calls_drain']} / {r['throttled_calls_neighbour']} |"
        )
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
    parser.add_argument("--no-concurrent", action="store_true", help="skip the concurrent-drains rows")
    parser.add_argument(
        "--only-concurrent", action="store_true", help="only the concurrent rows, printed (results.json untouched)"
    )
    args = parser.parse_args(argv)
    rows = []
    for cluster, targets in [] if args.only_concurrent else GRID:
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
    for cluster, targets in [] if args.only_concurrent else LOST_ROWS:
        rows.append(measure(cluster, targets, "ecs-drain", events="lost"))
    for events in DELIVERIES:
        for stacks, targets in [] if args.no_concurrent else CONCURRENT:
            started = time.monotonic()
            rows.append(measure_concurrent(stacks, targets, events=events))
            print(
                f"  measured {stacks} x {targets} concurrent drains, events {events}, "
                f"in {time.monotonic() - started:5.1f} s",
                file=sys.stderr,
            )
    if not args.only_concurrent:
        (HERE / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    print(concurrent_table([r for r in rows if r["concurrent_drains"] > 1]))
    if not args.no_large and not args.only_concurrent:
        large = large_run()
        (HERE / "large.json").write_text(json.dumps(large, indent=1) + "\n")
        print(
            f"\nLarge run: {large['targets']} targets, 20,000 tasks, {large['cluster_instances']} instances: "
            f"{large['wall_seconds']} s wall, peak {large['peak_memory_mib']} MiB, "
            f"state at most {large['state_bytes_max']} bytes; peak {large['peak_read_calls_per_second']} reads/s, "
            f"throttled {large['throttled_calls_drain']} (drain) / {large['throttled_calls_neighbour']} (neighbour), "
            f"longest check {large['check_seconds_max']} s, overhead {large['overhead_seconds']} s, "
            f"draining lag {large['draining_lag_seconds']} s."
        )
    print(
        f"\n(this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB; "
        f"prices: ${USD_PER_TRANSITION}/transition, ${USD_PER_LAMBDA_REQUEST * 1e6:.2f}/1M requests, "
        f"${USD_PER_GB_SECOND}/GB-s arm64, {DRAIN_MEMORY_GB} GB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
