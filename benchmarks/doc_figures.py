"""Every figure the README and docs/benchmarks.md show, from the committed benchmark files, the template and the
code's constants (`make bench` writes docs/benchmarks.md; tests hold both documents to these)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from ecs_drain.aws import budget, cfn_answer, sweeps
from ecs_drain.decisions import findings, properties
from ecs_drain.model import state
from ecs_drain.steps import census, diagnosis, draining
from emulation import template as cfn_template
from emulation.in_place import markdown as in_place_markdown

from .failed_requests import markdown, short_markdown
from .run import concurrent_table, table

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "benchmarks.md"


def page() -> str:
    rows = json.loads((HERE / "traffic.json").read_text())
    results = json.loads((HERE / "results.json").read_text())
    large = json.loads((HERE / "large.json").read_text())
    in_place = json.loads((HERE / "in_place.json").read_text())
    grid = [r for r in results if r["concurrent_drains"] == 1]
    conc = [r for r in results if r["concurrent_drains"] > 1]
    return f"""# Benchmarks: what ecs-drain costs, and what users see

Every figure here is measured on the offline emulation (docs/emulation.md) by `make bench`, on this project's
2-core machine, and committed with the code that produced it: `benchmarks/traffic.json`,
`benchmarks/results.json`, `benchmarks/large.json`, `benchmarks/in_place.json`. A test holds these tables to those
files.

## What users see: failed requests

The same stack update, with the same traffic (50 requests a second to each service behind a load balancer, most
taking tens of milliseconds, a few up to 20 s), four ways: **ecs-drain** with its defaults (the preflight checks the
new fleet on the Update and fails it, so CloudFormation rolls back, when the drain could not finish);
**ecs-drain-no-preflight** (`Preflight: OFF`: every check happens in the cleanup, where nothing can be rolled back);
**seed**, the rule of the blog post this project grew from (set every old instance DRAINING at once, answer when
their `runningTasksCount` adds up to 0, die at Lambda's 15 minutes without answering); and **none** (CloudFormation
deletes the old fleet at once). A failed request is an error a user of the service sees. Requests are counted over
one window per scenario, the same for every strategy: from the steady state, 30 s before the update, to `window`
minutes after it, long enough for every strategy's end and 5 minutes more (190 minutes where one of them waits out
CloudFormation's three hour-long tries of the Delete). A star marks a strategy still failing when its window ends,
or a service it left with no task then (named): an outage that lasts (`make bench-traffic`; `make demo` runs a
scenario's rows again and ends with the same numbers).

{markdown(rows)}

- **ecs-drain** failed no request wherever every service keeps at least half of at least two tasks, and killed no
  task on the old fleet. In `min-zero`, a service of one task with `minimumHealthyPercent` 0 is offline until its
  replacement is healthy whatever the drain does; ecs-drain says so in its Reason (`Warning: service solo ... drops
  to zero healthy targets`), and because it waits for room first, the gap is shorter than seed's.
- **The preflight** turns broken new capacity into a rollback: in `bad-ami` (the new fleet's agent never registers),
  `small-fleet` (its instances are too small for the old fleet's tasks), `blocked` (a service pinned at 100/100),
  `graviton` (arm64 instances under x86 task definitions), `eni` (too few network interfaces for awsvpc tasks) and
  `missing-attribute` (an agent without a capability a task definition requires),
  the stack ends `UPDATE_ROLLBACK_COMPLETE` with the old fleet serving and no request failed; the tasks killed there
  are the daemon tasks ECS had started on the new fleet, which CloudFormation deletes. With the preflight off, the
  same updates complete and the old fleet is deleted at the end of a drain that could not finish.
- **remove**: the Custom::ECSDrain removed from the template and the fleet kept; its Delete drains nothing.
- **shared-cluster**: two stacks whose fleets share the cluster replace them at once; one new fleet is too small.
  ecs-drain rolls that stack back, naming the other rollover (neither counts the other's fleets as room), and
  drains the other: no request failed, no task short. Every other strategy completes both updates and ends with
  the service short of its desired count (`tasks short at end`): with the preflight off, the second drain waits for
  room to its deadline and its fleet is deleted with tasks on it. Which of the two drains claims the room first
  depends on the timing of two concurrent cleanups, so that row varies from run to run (a `make demo` run of the
  same scenario: 13 failed requests, the other stack's fleet the one kept to its deadline).
- **constraints** (services placed by a regular expression, a list of zones and a task group) and **scaling** (room
  that comes from a capacity provider scaling out): the preflight passes, and the drain fails no request.
- **seed** fails few requests where the new fleet has room: a draining target gets no new requests, so deleting an
  instance whose tasks are still deregistering loses only what is still in flight there. It still kills tasks with
  their instance (daemons; a job mid-run), and when a task never ends (`deadline-continue`) it dies at 15 minutes
  and CloudFormation waits out its hour, three times: the old fleet stays three hours.
- **none** takes every service offline until replacements are placed on the new fleet and pass their health check.
- `tasks short at end`: the tasks the services (daemons aside) run fewer than they want when the window ends.
- `old fleet kept, s` runs from the Delete to the old fleet gone (`kept`: a rollback, or a removal, never deletes
  it); `old capacity` is that time times the old instances; `stack status` is how the update ended.

## In-place changes: an Auto Scaling group's instances replaced

`make bench-in-place` (two minutes; writes `benchmarks/in_place.json`): the same group of 3 old instances (4 in
`scale-in`) with the default services and their traffic, changed in place, under four strategies
(`emulation/in_place.py` says how each is modelled): `ecs-drain` on the group's launch and termination hooks
(`LaunchHook`, `TerminationHook`); ECS managed
instance draining's documented rule (DRAINING at once, no room counted, CONTINUE once no service task is left, 48 h at
most); the AWS CDK's `InstanceDrainHook` (DRAINING, then CONTINUE when no task is left or at its 5-minute drain
time); `none` (no hook). Requests are counted over the same window for every strategy (30 minutes; 20 for
`scale-in`). Which tasks share an instance depends on ids moto draws at random: `none`'s failed requests vary by a few
from run to run (four runs here: 17 to 22 failed in `instance-refresh`), the others' zeros do not.

{in_place_markdown(in_place)}
- **instance-refresh** (MinHealthyPercentage 50, one instance at a time), **rolling-update** (CloudFormation's
  AutoScalingRollingUpdate, batches of 1, PauseTime 60 s: it does not wait for the hook, the hook holds the instance
  all the same) and **scale-in** (room left for every task): ecs-drain fails no request and kills no task; so do the
  CDK hook and managed draining here, where room exists and every task leaves within 5 minutes. ecs-drain is the
  slowest of the three (626 s against 551 s for the refresh): it gathers the instances held together for 15 s, sets
  DRAINING only once the room is there, and holds each new instance until it is registered and ready (the launch
  check). `none` kills every task on each instance with it.
- **refresh-blocked** (a service pinned at 100/100: ECS can neither start a replacement nor stop its task; the
  group retains abandoned instances; the refresh names the alarm on `HookDrainBlocked` for the group, as
  `examples/autoscaling-group-in-place.yaml` does, and runs within a stack update under CloudFormation's
  AutoScalingInstanceRefresh policy, which rolls back when the refresh fails: a refresh back replaces what it
  launched, `stack` its status): ecs-drain's drain is blocked at its first check, the alarm fires within its 60 s
  period, the refresh fails and the update rolls back (`UPDATE_ROLLBACK_COMPLETE`, the one new instance drained and
  replaced), and at `BlockedTimeoutSeconds` the blocked instance's action is completed with ABANDON: it is retained,
  its pinned task still running. The CDK hook lets
  each instance go at 5 minutes with the pinned task on it (6 tasks killed, the refresh Successful); managed
  draining holds the first instance for 48 hours, the refresh `InProgress` at the window's end (and kills the task
  when the 48 hours are up); `none` kills everything.
- **refresh-bad-ami** (the refresh's new instances never register in the cluster; the same alarm named; ecs-drain's
  `PreflightTimeoutSeconds` 300, the group's instances registering within two minutes): the refresh terminates one
  old instance first (MinHealthyPercentage 50), which ecs-drain drains (the two others have room for its tasks);
  its replacement, held by the launch hook, never registers, and at 300 s the launch check completes it with
  ABANDON, naming what was missing, and sets `HookDrainBlocked`. The group launches another in its place (also
  never registering, also abandoned at its 300 s); meanwhile the alarm fails the refresh and the stack update rolls
  back (`UPDATE_ROLLBACK_COMPLETE`: the refresh back's instance, of the configuration of before, registers and
  passes its check). No request fails, no task is killed, and two old instances never left. Before the launch
  check (stop 53), ecs-drain failed no request either, but the refresh stayed `InProgress`, the next old instance
  held for room that never came. Managed draining ends that way here; the CDK hook lets every instance go at 5
  minutes and the services go down with them, as with no hook at all.
- The stack around a refresh (`World.update_in_place`): UPDATE_COMPLETE once it succeeds; a failed refresh fails the
  update, whose rollback reverts the launch template and refreshes back with the same preferences (how soon
  CloudFormation starts that refresh, and whether it names the alarms again, is not documented: at once, without
  them, here). `rolling-update` and `scale-in` change no stack status here (`-`).

## Scale and cost

The real engine (`ecs-drain`) against a `naive` reference that lists and describes the whole cluster on every
check, sets instances DRAINING one per call and counts `runningTasksCount`, as earlier tools do; with AWS's paging
limits, ECS token buckets (cluster reads 100 refilled at 20/s, shared by every caller in the account), 0.03 s per
AWS call (DynamoDB bookings included) and a *neighbour* (another tool in the account making 5 cluster reads a
second). In each row the old fleet (`targets`) drains while `cluster_instances` other instances have registered;
services run one 128-CPU task per instance behind the default 300 s deregistration delay. `events`: ECS Task State
Change events delivered as EventBridge does (`on`: each 0.5 to 2.5 s late) or every one lost (`lost`: the fault;
the drain ends on its reads).

{table(grid)}

- `drain_calls_total`: every ECS, EC2 and Auto Scaling call of the drain steps (the DynamoDB bookings of the call
  schedule, one per ECS call, are counted in `usd_per_hour` instead). `ecs_reads_per_target`: the drain's cluster
  reads (`ListTasks`, `DescribeTasks`, `DescribeContainerInstances`, `ListContainerInstances`) per target; the
  modify calls, one per 10 targets, have a bucket of their own. `budget_floor_seconds`: those reads at the read rate
  (10 a second), the time the budget alone imposes.
- `peak_read_calls_per_second`: the drain's cluster reads in the busiest one-second window of simulated time.
- `throttled_calls_drain`, `throttled_calls_neighbour`: calls that found the account's bucket empty.
- `check_seconds_max`: the longest drain step in simulated seconds (the DrainFunction's timeout is 300 s).
- `drain_seconds`: from the Delete to the answer; `last_stopped_seconds`: to the last task on the targets reaching
  STOPPED; `overhead_seconds`: the difference (the detection the engine owns at the end);
  `draining_lag_seconds`: from the Delete to the last target set DRAINING (what the engine owns at the start).
- `state_bytes_max`: the largest state in the execution history (Step Functions allows 262,144).
- `usd_per_hour`: an hour of draining (a check and a wait each poll): state transitions at $0.000025, Lambda
  requests at $0.20 per million, GB-seconds at $0.0000133334 (arm64, 512 MB) and DynamoDB write requests at $0.625
  per million.
- `tasks_not_stopped_at_answer`: not 0 when CloudFormation was answered while tasks still ran: the naive count
  misses tasks that are DEACTIVATING or STOPPING, which is how earlier tools kill live requests. (A row with a
  handful of tasks, such as 10 instances and 1 target, depends on where ECS placed them: moto's instance ids are
  random, so such a row changes from run to run.)

## Many drains at once

Consumer stacks replaced together in one cluster of 2,000 other instances (300 s deregistration delay, the
neighbour at 5 reads a second), every drain booking its ECS calls in the one schedule they share, with ECS events
delivered (`on`) or all lost (`lost`). Per drain: when it answered, its overhead (its answer after its own last task
STOPPED) and lag (the worst of them) and the tasks still running at its answer (all drains together); `last
STOPPED` is the last task of all drains; `budget_floor_seconds` is the cluster reads the drains needed together
divided by the read rate (10 a second): the time the budget alone imposes.

{concurrent_table(conc)}

{concurrent_paragraph(conc)}

## One large run

{large["targets"]} targets among {large["cluster_instances"]} other instances with 20,000 tasks in the cluster:
{large["wall_seconds"]} s of wall time on the emulation, peak memory {large["peak_memory_mib"]} MiB, state at most
{large["state_bytes_max"]} bytes, peak {large["peak_read_calls_per_second"]} reads a second,
{large["throttled_calls_drain"]} drain and {large["throttled_calls_neighbour"]} neighbour calls throttled, longest
step {large["check_seconds_max"]} s, overhead {large["overhead_seconds"]} s, draining lag
{large["draining_lag_seconds"]} s (`benchmarks/large.json`).
"""  # noqa: S608 (prose: "update ... set" is not SQL)


USD_PER_ALARM_METRIC_MONTH = 0.10  # CloudWatch, standard resolution: an alarm is billed per metric it reads


def _named(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['concurrent_drains']} x {r['targets'] // r['concurrent_drains']}" for r in rows)


def _worst(rows: list[dict[str, Any]]) -> float:
    return max(d["overhead_seconds"] for r in rows for d in r["per_drain"])


def budget_paragraph(conc: list[dict[str, Any]]) -> str:
    """What sets each concurrent row's end: the tasks, or (where the reads the drains need together take longer than
    the tasks take to stop) the read budget. Written from the rows, so it stays true when they change."""
    fits = [r for r in conc if r["budget_floor_seconds"] < r["last_stopped_seconds"]]
    over = [r for r in conc if r not in fits]
    said = []
    for events, how in (("on", "of its own last task STOPPED"), ("lost", "of its last task, on its reads")):
        rows = [r for r in fits if r["events"] == events]
        if rows:
            said.append(f"With events {events} ({_named(rows)}), each drain answered within {_worst(rows)} s {how}.")
    for r in over:
        said.append(
            f"At {_named([r])} with events {r['events']}, the reads the drains need together take longer than their "
            f"tasks take to stop (a budget floor of {r['budget_floor_seconds']} s, the last task at "
            f"{r['last_stopped_seconds']} s): the last drains answer on the budget, up to {_worst([r])} s after "
            "their last task."
        )
    return " ".join(said)


def lag_paragraph(conc: list[dict[str, Any]]) -> str:
    """What sets the start of the largest rows: the modify share under the reads of the drains' first steps."""
    rows = [r for r in conc if r["events"] == "on" and "modify_floor_seconds" in r]
    if not rows:
        return ""
    said = ", ".join(
        f"{_named([r])}: {max(d['draining_lag_seconds'] for d in r['per_drain'])} s against a floor of "
        f"{r['modify_floor_seconds']} s"
        for r in rows
    )
    return (
        "Also left is the start (`draining_lag_seconds`, the last target set DRAINING): "
        "`UpdateContainerInstancesState` takes at most 10 instances a call, so the modify share alone (20 calls a "
        "second) sets a floor of one second per 200 targets (`modify_floor_seconds`), and each drain first reads its "
        f"fleet (its plan) and checks its room: {said}."
    )


def concurrent_paragraph(conc: list[dict[str, Any]]) -> str:
    text = (
        "Every drain answered only after every task on its targets was STOPPED, with no throttled call and at most "
        f"10 reads a second over all drains together. {budget_paragraph(conc)} Before this release each target cost "
        "a `ListTasks` of its own: 16 x 400 needed 9,417 calls, answered from 613 to 819 s, and one drain waited "
        "426.7 s after its last task for its share of the reads. "
        f"{lag_paragraph(conc)} Before the "
        "shared schedule (one drain step at a time through the DrainFunction's reserved concurrency), the same 16 x "
        "400 answered five drains SUCCESS with about 200 tasks each still running, when their steps ran out of "
        "retries waiting for the one slot."
    )
    return textwrap.fill(text, width=116, break_on_hyphens=False)


def alarm_metrics() -> int:
    """The metrics the template's alarms read (a metric math alarm is billed for each metric in its expression)."""
    template = cfn_template.load()
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    return sum(sum(1 for m in a["Metrics"] if "MetricStat" in m) if "Metrics" in a else 1 for a in alarms)


def at_rest() -> str:
    return f"${alarm_metrics() * USD_PER_ALARM_METRIC_MONTH:.2f}"


def per_drain_hour() -> str:
    results = json.loads((HERE / "results.json").read_text())
    one = [
        r["usd_per_hour"]
        for r in results
        if r["strategy"] == "ecs-drain" and r["concurrent_drains"] == 1 and r["events"] == "on"
    ]
    one = [c for c in one if c is not None]
    return f"from ${min(one):.3f} to ${max(one):.3f} for one drain (1 to 1,000 targets)"


def reads_at_1000() -> str:
    """The cluster reads a target of one drain of 1,000 targets costs (events on, 1,000 other instances)."""
    results = json.loads((HERE / "results.json").read_text())
    (one,) = [
        r
        for r in results
        if (r["strategy"], r["concurrent_drains"], r["events"], r["targets"], r["cluster_instances"])
        == ("ecs-drain", 1, "on", 1000, 1000)
    ]
    return f"a drain of 1,000 targets reads {one['ecs_reads_per_target']:.2f} calls per target"


def limits() -> str:
    """The limits in one table, from the constants that enforce them."""
    one_execution_hours = state.CHECKS_PER_EXECUTION * properties.DEFAULT_POLL_SECONDS / 3600
    rows = [
        ("instances in `InstanceIds`", f"{properties.MAX_INSTANCE_IDS:,}", "refused beyond, naming the property"),
        (
            "`DrainTimeoutSeconds` from CloudFormation",
            f"{properties.MIN_DRAIN_TIMEOUT_SECONDS} to {properties.MAX_DRAIN_TIMEOUT_SECONDS} s",
            f"{properties.ANSWER_MARGIN_SECONDS} s left to answer within CloudFormation's "
            f"{properties.CLOUDFORMATION_CEILING_SECONDS} s",
        ),
        (
            "a drain by hand",
            f"{properties.MAX_MANUAL_DRAIN_SECONDS // 86400} days",
            "the default without `DrainTimeoutSeconds`, a longer one refused; past "
            f"{state.CHECKS_PER_EXECUTION:,} checks ({one_execution_hours:.1f} h at the default poll: "
            f"{state.HISTORY_EVENTS_QUOTA:,} history events, {state.HISTORY_EVENTS_PER_CHECK} a check) "
            "it goes on in a new execution",
        ),
        (
            "`PollIntervalSeconds`",
            f"{properties.MIN_POLL_SECONDS} to {properties.MAX_POLL_SECONDS} s",
            "between checks",
        ),
        ("tasks watched at once", f"{census.WATCH_MAX:,}", "stopping tasks followed to STOPPED; the rest wait a check"),
        (
            "busy instances checked before an early answer",
            f"{diagnosis.VERIFY_MAX_INSTANCES}",
            "with more, a blocked drain waits to its deadline",
        ),
        ("instances named in a Reason", f"{draining.REPORTED_INSTANCES}", "the busiest; the rest are counted"),
        ("findings kept", f"{findings.MAX_FINDINGS}", "most important first"),
        (
            "the answer's body",
            f"{cfn_answer.MAX_BODY_BYTES:,} bytes",
            "CloudFormation's limit; the Reason is cut to fit",
        ),
        (
            "a drain step's optional work",
            f"{budget.DEFAULT_STEP_SECONDS:.0f} s",
            f"of the DrainFunction's {budget.DRAIN_STEP_TIMEOUT_SECONDS} s timeout; "
            f"{sweeps.SHARED_SWEEP_SECONDS:.0f} s for a sweep other drains share",
        ),
    ]
    lines = ["| what | limit | note |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def readme_figures() -> dict[str, str]:
    """Each placeholder of the README's figures and its value."""
    rows = json.loads((HERE / "traffic.json").read_text())
    return {
        "__ALARM_METRICS__": str(alarm_metrics()),
        "__AT_REST__": at_rest(),
        "__PER_HOUR__": per_drain_hour(),
        "__READS_AT_1000__": reads_at_1000(),
        "__LIMITS__": limits(),
        "__SHORT__": short_markdown(rows),
    }


def main() -> int:
    PAGE.write_text(page())
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
