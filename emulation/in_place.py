"""What users see when an Auto Scaling group's instances are replaced in place (issue 47), under each strategy: the
same world, the same traffic, the same change, one row each.

- `ecs-drain`: the real engine on the group's hooks (`TerminationHook` and `LaunchHook`, bound by the stack's
  Custom::ECSDrain): each new instance checked on its launch hook (registered, ACTIVE, daemons RUNNING, the group's
  tasks placeable) before it goes InService; each old one drained on its termination hook: room first, DRAINING,
  every task STOPPED, then CONTINUE.
- `ecs-managed-draining`: the rule ECS documents for managed instance draining (a capacity provider's group): on a
  hook of its own, the instance is set DRAINING at once (no room counted) and its action completed once no service
  task is left on it (standalone tasks are left running), at most 48 hours. How often ECS looks is not documented:
  every 15 s here.
- `cdk-hook`: the AWS CDK's InstanceDrainHook: a Lambda on the hook sets the instance DRAINING, then every 10 s
  counts the tasks on it not STOPPED, and completes with CONTINUE when there are none or at its drain time (5
  minutes by default), whichever comes first (peers: aws-cdk 13506 made it count every task not STOPPED).
- `none`: no hook: the group terminates each instance at once.

The changes: an instance refresh (as CloudFormation's AutoScalingInstanceRefresh policy starts it), CloudFormation's
AutoScalingRollingUpdate as it is reported to run (not waiting for termination hooks), and a scale-in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .ecs_events import Delivery
from .scenarios import World, pinned_services, rollover_world
from .traffic import Traffic

IN_PLACE_STRATEGIES = ("ecs-drain", "ecs-managed-draining", "cdk-hook", "none")
HOOKS = {"ecs-drain": "drain", "ecs-managed-draining": "ecs-managed-draining-termination-hook", "cdk-hook": "cdk-drain"}
CDK_DRAIN_SECONDS, CDK_POLL_SECONDS = 300, 10
MANAGED_POLL_SECONDS, MANAGED_MAX_SECONDS, MANAGED_HEARTBEAT_SECONDS = 15, 48 * 3600, 3600
ECS_DRAIN_HEARTBEAT_SECONDS = 300
# The launch hook holds a new instance through its check: 15 s gathering, PreflightTimeoutSeconds (900 by default),
# 120 s to complete (hook_rules.launch_hold_seconds).
ECS_DRAIN_LAUNCH_HOOK, ECS_DRAIN_LAUNCH_HEARTBEAT_SECONDS = "check", 1200


@dataclass(frozen=True)
class InPlaceScenario:
    change: str  # "refresh", "rolling" or "scale-in"
    about: str
    window_minutes: int
    options: dict[str, Any] = field(default_factory=dict)  # rollover_world's, beyond an Auto Scaling group's
    policy: dict[str, str] = field(default_factory=dict)  # ecs-drain's properties, beyond the hook
    # The group's instance lifecycle policy retains instances whose termination hook is abandoned, and the refresh
    # names the alarm on ecs-drain's HookDrainBlocked for the group, as the in-place example does (a failed refresh
    # fails the stack update, which rolls back).
    guarded: bool = False
    registers: bool = True  # False: the new instances never register (a bad AMI)


IN_PLACE_SCENARIOS = {
    "instance-refresh": InPlaceScenario(
        "refresh", "an instance refresh of 3 instances, one at a time (MinHealthyPercentage 50, warm-up 60 s)", 30
    ),
    "rolling-update": InPlaceScenario(
        "rolling", "AutoScalingRollingUpdate of 3 instances, batches of 1, PauseTime 60 s", 30
    ),
    "scale-in": InPlaceScenario(
        "scale-in", "4 instances scaled in to 3, room left on the 3 for every task", 20, {"old_instances": 4}
    ),
    "refresh-bad-ami": InPlaceScenario(
        "refresh",
        "the instance refresh, its new instances never registering in the cluster (a bad AMI)",
        30,
        # The group's instances register within two minutes: the launch check waits five (900 s by default).
        policy={"PreflightTimeoutSeconds": "300"},
        guarded=True,
        registers=False,
    ),
    "refresh-blocked": InPlaceScenario(
        "refresh",
        "the instance refresh, a service pinned at 100/100 (ECS can neither start a replacement nor stop a task)",
        30,
        {"services": "pinned"},
        {"BlockedTimeoutSeconds": "120", "OnTimeout": "ABANDON"},
        guarded=True,
    ),
}
ALARM = "hook-drain-blocked"


@dataclass
class InPlaceRun:
    scenario: str
    strategy: str
    requests: int
    failed: int
    refresh: str  # the instance refresh's status at its end or the window's ("-": no refresh)
    stack: str  # the stack's status after the update that started the refresh ("-": no stack update)
    tasks_killed: int  # on the old instances, within the window
    old_set_draining: int  # old instances set DRAINING before they went
    change_seconds: float  # from the change's start to the last old instance gone in the window (0: none went)
    old_gone: int  # old instances gone within the window (a scale-in takes one; the others stay)
    started: float = 0.0  # when the change began (simulated epoch seconds): the picture's origin
    failed_at: dict[int, int] = field(default_factory=dict)  # failed requests per simulated second

    def row(self) -> dict[str, Any]:
        kept = {k: v for k, v in self.__dict__.items() if k not in ("started", "failed_at")}
        return {**kept, "change_seconds": round(self.change_seconds, 1)}


def measure_in_place(
    name: str, strategy: str, watch: Callable[[World, float, float], None] | None = None
) -> InPlaceRun:
    """One strategy's in-place change of a scenario; `watch` (the demo's) is given the world, the change's start and
    the window's end before the change begins."""
    scenario = IN_PLACE_SCENARIOS[name]
    options = {"kind": "AutoScalingGroup", "new_instances": 0, "log_level": "ERROR", **scenario.options}
    if options.get("services") == "pinned":
        options["services"] = pinned_services()
    with rollover_world(traffic=Traffic(), **options) as world:
        traffic = world.sim.traffic
        assert traffic is not None
        begun = world.aws.clock.now()
        window_end = begun + scenario.window_minutes * 60
        traffic.count_until(window_end)
        _prepare(world, strategy, scenario, window_end)
        if watch is not None:
            watch(world, begun, window_end)
        refresh, stack = _change(world, scenario, window_end)
        world.aws.clock.sleep(max(0.0, window_end - world.aws.clock.now()))
        old = set(world.old.container_ids)
        gone = [
            world.sim.record.gone_at[e]
            for e in world.old.ec2_ids
            if world.sim.record.gone_at.get(e, window_end) < window_end
        ]
        killed = [world.sim.tasks[arn] for arn in world.sim.record.killed]
        run = InPlaceRun(
            scenario=name,
            strategy=strategy,
            requests=traffic.requests,
            failed=traffic.total_failed,
            refresh=refresh,
            stack=stack,
            tasks_killed=sum(1 for t in killed if t.instance_id in old and (t.stopped_at or 0) < window_end),
            old_set_draining=len(set(world.sim.record.draining_set_at) & old),
            change_seconds=max(gone, default=begun) - begun,
            old_gone=len(gone),
            started=begun,
            failed_at=dict(traffic.failed_at),
        )
        _end_measurement(world)
        return run


def _end_measurement(world: World) -> None:
    """The window has ended: drains still under way are stopped (their answer completes their actions) and the
    strategies' own loops see the horizon, so nothing of this world runs on into the next."""
    sfn = world.aws.sfn()
    with world.aws.calls.acting_as("driver"):
        running = sfn.list_executions(stateMachineArn=world.aws.state_machine_arn, statusFilter="RUNNING")
        for execution in running["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])
    world.aws.clock.advance(2 * MANAGED_POLL_SECONDS)
    world.aws.wait_for_executions(wall_seconds=60)


def _prepare(world: World, strategy: str, scenario: InPlaceScenario, horizon: float) -> None:
    """The group as the scenario has it; the strategy's hook on it, and whoever completes that (until `horizon`, the
    measurement's end: what it would do later is not counted, and the world is gone by then)."""
    if scenario.guarded:
        assert world.api.lifecycle is not None
        world.api.lifecycle.retain_on_abandon.add(world.old.request_id)
        world.alarm_on_hook_drains(ALARM)
    if strategy == "none":
        return
    if strategy == "ecs-drain":
        hooks = {
            "TerminationHook": (HOOKS[strategy], ECS_DRAIN_HEARTBEAT_SECONDS),
            "LaunchHook": (ECS_DRAIN_LAUNCH_HOOK, ECS_DRAIN_LAUNCH_HEARTBEAT_SECONDS),
        }
        answer = world.bind_hooks(hooks, **scenario.policy)
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        return
    heartbeat = CDK_DRAIN_SECONDS if strategy == "cdk-hook" else MANAGED_HEARTBEAT_SECONDS
    with world.aws.calls.acting_as("driver"):
        world.aws.client("autoscaling").put_lifecycle_hook(
            AutoScalingGroupName=world.old.request_id,
            LifecycleHookName=HOOKS[strategy],
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=heartbeat,
            DefaultResult="CONTINUE",
        )
    drain = _cdk_hook if strategy == "cdk-hook" else _managed_draining
    pattern = {"source": ["aws.autoscaling"], "detail": {"LifecycleHookName": [HOOKS[strategy]]}}
    assert world.bus is not None
    world.bus.put_rule(strategy, pattern, lambda event: drain(world, event["detail"], horizon), Delivery(seed=13))


def _change(world: World, scenario: InPlaceScenario, window_end: float) -> tuple[str, str]:
    """Carry the change out: the refresh's status and the stack's, when it ended or at the window's end ("-": no
    refresh, no stack update). A refresh runs as CloudFormation's AutoScalingInstanceRefresh policy starts it, within
    a stack update that rolls back when it fails (World.update_in_place)."""
    if scenario.change == "refresh":
        preferences: dict[str, Any] = {"MinHealthyPercentage": 50, "InstanceWarmup": 60}
        if scenario.guarded:
            preferences |= {"AlarmSpecification": {"Alarms": [ALARM]}}
        refresh, stack = world.update_in_place(
            wall_seconds=600, until=window_end, registers=scenario.registers, **preferences
        )
        return str(refresh["Status"]), stack
    if scenario.change == "rolling":
        world.rolling_update(max_batch_size=1, pause_seconds=60)
    else:
        with world.aws.calls.acting_as("driver"):
            world.aws.client("autoscaling").set_desired_capacity(
                AutoScalingGroupName=world.old.request_id, DesiredCapacity=len(world.old.ec2_ids) - 1
            )
    return "-", "-"


def _cdk_hook(world: World, detail: dict[str, Any], horizon: float) -> None:
    """InstanceDrainHook: DRAINING, then every 10 s the tasks not STOPPED, CONTINUE at none or at its drain time."""
    _hold_and_complete(world, detail, lambda tasks: not tasks, (CDK_POLL_SECONDS, CDK_DRAIN_SECONDS), horizon)


def _managed_draining(world: World, detail: dict[str, Any], horizon: float) -> None:
    """ECS managed draining: DRAINING, CONTINUE once no service task is left (standalone ones stay), 48 h at most."""

    def done(tasks: list[Any]) -> bool:
        return not [t for t in tasks if t.service is not None]

    _hold_and_complete(world, detail, done, (MANAGED_POLL_SECONDS, MANAGED_MAX_SECONDS), horizon)


def _hold_and_complete(
    world: World, detail: dict[str, Any], done: Callable[[list[Any]], bool], timing: tuple[float, float], horizon: float
) -> None:
    """Set the held instance DRAINING, look every `poll` seconds until `done` with its tasks not STOPPED (or `most`
    seconds), recording a heartbeat where the hook's timeout would come first, then complete with CONTINUE; at the
    `horizon` still looking, stop there."""
    poll, most = timing
    instance = detail["EC2InstanceId"]
    container = next((c for c, e in world.sim.ec2_ids.items() if e == instance), None)
    ecs, autoscaling = world.aws.client("ecs"), world.aws.client("autoscaling")
    action = {"AutoScalingGroupName": detail["AutoScalingGroupName"], "LifecycleHookName": detail["LifecycleHookName"]}
    started = beat = world.aws.clock.now()
    with world.aws.calls.acting_as("strategy"):
        if container is not None:
            ecs.update_container_instances_state(
                cluster=world.properties["Cluster"], containerInstances=[container], status="DRAINING"
            )
        while container is not None and world.aws.clock.now() - started < most:
            if world.aws.clock.now() >= horizon:
                return
            tasks = [world.sim.tasks[arn] for arn in world.sim.by_instance.get(container, ())]
            if done([t for t in tasks if t.last != "STOPPED"]):
                break
            world.aws.clock.sleep(poll)
            if most > MANAGED_HEARTBEAT_SECONDS and world.aws.clock.now() - beat >= MANAGED_HEARTBEAT_SECONDS / 2:
                with contextlib.suppress(ClientError):  # the action may have ended meanwhile
                    autoscaling.record_lifecycle_action_heartbeat(InstanceId=instance, **action)
                beat = world.aws.clock.now()
        # The hook's own timeout may come first (the CDK's drain time is its heartbeat timeout): CONTINUE as well.
        with contextlib.suppress(ClientError):
            autoscaling.complete_lifecycle_action(InstanceId=instance, LifecycleActionResult="CONTINUE", **action)


COLUMNS = ("failed", "requests", "tasks_killed", "old_set_draining", "old_gone", "change_seconds", "refresh", "stack")


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as docs/benchmarks.md shows them."""
    head = (
        "| scenario | strategy | failed requests | of | tasks killed | old set DRAINING | old gone | change, s "
        "| refresh | stack |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['strategy']} | " + " | ".join(str(r[c]) for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure every in-place scenario under every strategy; write benchmarks/in_place.json and print the table."""
    import json
    import sys
    from pathlib import Path

    rows = []
    for name in IN_PLACE_SCENARIOS:
        for strategy in IN_PLACE_STRATEGIES:
            rows.append(measure_in_place(name, strategy).row())
            print(f"measured {name} {strategy}", file=sys.stderr, flush=True)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "in_place.json"
    path.write_text(json.dumps(rows, indent=2) + "\n")
    print(markdown(rows), end="")


if __name__ == "__main__":
    main()
