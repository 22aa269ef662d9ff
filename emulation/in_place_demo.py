"""`make demo DEMO_ARGS="--scenario instance-refresh"` (or another in-place scenario): an Auto Scaling group changed
in place under ecs-drain's hooks, offline, with a picture of each instance's lifecycle states (as
DescribeAutoScalingGroups shows them, with ECS's DRAINING) and the failed requests of every strategy.

Exit status 0 only when ecs-drain failed no request and killed no task, and a refresh that should fail (a guarded
scenario: the new instances never register, or a drain is blocked) failed and rolled back; 3 otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .in_place import IN_PLACE_SCENARIOS, IN_PLACE_STRATEGIES, InPlaceRun, measure_in_place
from .scenarios import World

SAMPLE_SECONDS = 5.0
NOT_CLEAN = 3
GONE = "Terminated"
# What each state looks like in the picture (DRAINING: ECS's status of the instance, which Auto Scaling does not show).
COLOURS = {
    "Pending": "#f6d55c",
    "Pending:Wait": "#f2a93b",
    "InService": "#5aa469",
    "InService, DRAINING": "#a3c86d",
    "Terminating:Wait": "#7fa7d9",
    "Terminating:Wait, DRAINING": "#2f6db3",
    "Retained": "#c9a3d9",
    "Retained, DRAINING": "#8e5ea2",
}
STYLES = {"ecs-drain": "tab:blue", "ecs-managed-draining": "tab:orange", "cdk-hook": "tab:purple", "none": "tab:red"}


@dataclass
class Lifecycle:
    """Each instance of the group, sampled every SAMPLE_SECONDS: its state, and the refresh's status."""

    started: float = 0.0
    old: set[str] = field(default_factory=set)
    samples: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    refresh: list[tuple[float, str]] = field(default_factory=list)  # the stack's and the refresh's status changes

    def watch(self, world: World, begun: float, end: float) -> None:
        """Sample from the change's start to the window's end, on the simulated clock (reading the models, not the
        APIs: the demo's looks are no calls of anyone's)."""
        self.started, self.old = begun, set(world.old.ec2_ids)

        def sample(at: float) -> None:
            self.samples.append((at, states(world)))
            status = progress(world)
            if status and (not self.refresh or self.refresh[-1][1] != status):
                self.refresh.append((at, status))
            if at + SAMPLE_SECONDS <= end:
                world.sim.at(at + SAMPLE_SECONDS, lambda: sample(at + SAMPLE_SECONDS))

        world.sim.at(begun, lambda: sample(begun))

    def changes(self, apart: float = 0.5) -> list[tuple[float, str]]:
        """The stack's and the refresh's status changes, in minutes from the change's start; those within `apart`
        minutes of the next are said by the next (the picture's numbered lines stay readable)."""
        moments = [((at - self.started) / 60, status) for at, status in self.refresh]
        return [m for n, m in enumerate(moments) if n + 1 == len(moments) or moments[n + 1][0] - m[0] >= apart]

    def spans(self) -> dict[str, list[tuple[float, float, str]]]:
        """Per instance: (from, to, state) in minutes from the change's start, one span per state it held."""
        found: dict[str, list[tuple[float, float, str]]] = {}
        for n, (at, seen) in enumerate(self.samples):
            until = self.samples[n + 1][0] if n + 1 < len(self.samples) else at + SAMPLE_SECONDS
            for instance, state in seen.items():
                runs = found.setdefault(instance, [])
                start, end = (at - self.started) / 60, (until - self.started) / 60
                if runs and runs[-1][2] == state and abs(runs[-1][1] - start) < 1e-9:
                    runs[-1] = (runs[-1][0], end, state)
                else:
                    runs.append((start, end, state))
        return found

    def transitions(self) -> list[tuple[float, str, str, str]]:
        """(minutes, instance, from, to), in order: what the live text says."""
        before: dict[str, str] = {}
        found = []
        for at, seen in self.samples:
            for instance in sorted(set(before) | set(seen)):
                now = seen.get(instance, GONE)
                if before.get(instance, "-") != now:
                    found.append(((at - self.started) / 60, instance, before.get(instance, "-"), now))
                before[instance] = now
        return found


def states(world: World) -> dict[str, str]:
    """The group's instances and their LifecycleState, with ", DRAINING" where ECS has the instance DRAINING."""
    assert world.api.lifecycle is not None
    group = world.api.lifecycle.backend.autoscaling_groups.get(world.old.request_id)
    if group is None:
        return {}
    draining = {world.sim.ec2_id(i) for i, facts in world.sim.instances.items() if facts.status == "DRAINING"}
    return {
        s.instance.id: s.lifecycle_state + (", DRAINING" if s.instance.id in draining else "")
        for s in group.instance_states
    }


def progress(world: World) -> str | None:
    """The stack's status while it updates, and the group's refresh's (a refresh back, in the stack's rollback)."""
    assert world.api.lifecycle is not None
    refreshing = world.api.lifecycle.refreshes.get(world.old.request_id)
    if refreshing is None:
        return None
    back = " (back)" if refreshing.refresh.reverting else ""
    return f"{world.cfn.status}, refresh{back} {refreshing.refresh.status}"


def picture(name: str, lifecycle: Lifecycle, runs: list[InPlaceRun], path: Path) -> Path:
    """The group's instances, one row each, coloured by state; under it, failed requests per 10 s per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    spans = lifecycle.spans()
    rows = sorted(spans, key=lambda i: (i not in lifecycle.old, spans[i][0][0], i))
    end = max((s[1] for runs_ in spans.values() for s in runs_), default=1.0)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 1.6 + 0.32 * len(rows) + 2.6), dpi=110, sharex=True,
        gridspec_kw={"height_ratios": [max(2.0, 0.32 * len(rows)), 2.2]},
    )  # fmt: skip
    for y, instance in enumerate(rows):
        bars = [(a, b - a) for a, b, _ in spans[instance]]
        colours = [COLOURS.get(state, "#cccccc") for _, _, state in spans[instance]]
        top.broken_barh(bars, (y - 0.35, 0.7), facecolors=colours, edgecolor="none")
        for at, said in completions(spans[instance], end):
            top.annotate(said, (at, y), fontsize=6, ha="left", va="center", xytext=(3, 0), textcoords="offset points")
    top.set_yticks(range(len(rows)), [f"{'old' if i in lifecycle.old else 'launched'} {i}" for i in rows], fontsize=7)
    top.invert_yaxis()
    changes = lifecycle.changes()
    for k, (minute, _status) in enumerate(changes, 1):
        top.axvline(minute, color="0.3", linewidth=0.8, linestyle=":")
        top.annotate(str(k), (minute, -0.55), fontsize=7, ha="center", va="bottom", annotation_clip=False)
    said = "\n".join(f"{k}  {minute:4.1f} min  {status}" for k, (minute, status) in enumerate(changes, 1))
    top.annotate(said, (1.01, 0.0), xycoords="axes fraction", fontsize=6.5, va="bottom", ha="left", color="0.2")
    seen = {state for runs_ in spans.values() for _, _, state in runs_}
    top.legend(
        handles=[Patch(color=c, label=s) for s, c in COLOURS.items() if s in seen],
        fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
    )  # fmt: skip
    numbered = "; the stack and the refresh: at the numbered lines" if changes else ""
    heading = f"{name}: {IN_PLACE_SCENARIOS[name].about}\n(ecs-drain{numbered})"
    top.set_title(heading, fontsize=9, pad=22)
    _failures(bottom, runs, end)
    bottom.set_xlim(0, end)
    bottom.set_xlabel("minutes from the change's start (simulated); blank: the instance is gone (Terminated)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def completions(spans: list[tuple[float, float, str]], end: float) -> list[tuple[float, str]]:
    """Where a hook let the instance go on, and how: CONTINUE into service, or out (terminated); ABANDON where a
    launch ended out of service or a termination in Retained."""
    found = []
    for n, (_, until, state) in enumerate(spans):
        following = spans[n + 1][2] if n + 1 < len(spans) else (GONE if until < end - 1e-6 else None)
        if following is None or not state.startswith(("Pending:Wait", "Terminating:Wait")):
            continue
        launch = state.startswith("Pending")
        if following.startswith("Retained") or (launch and following == GONE):
            found.append((until, "ABANDON"))
        elif following.startswith("InService") or following == GONE:
            found.append((until, "CONTINUE"))
    return found


def _failures(axis: Any, runs: list[InPlaceRun], end: float) -> None:
    # ecs-drain last, on top: its line is often the zero line the others share.
    for run in sorted(runs, key=lambda r: r.strategy == "ecs-drain"):
        buckets = range(0, int(end * 60) - 9, 10)
        xs = [b / 60 for b in buckets]
        counts = [sum(run.failed_at.get(int(run.started) + b + i, 0) for i in range(10)) for b in buckets]
        label = f"{run.strategy}: {run.failed:,} failed, {run.tasks_killed} tasks killed"
        width = 2.4 if run.strategy == "ecs-drain" else 1.4
        axis.step(xs, counts, where="post", label=label, color=STYLES.get(run.strategy, "tab:gray"), linewidth=width)
    axis.set_ylim(bottom=0, top=max(1.0, axis.get_ylim()[1]))
    axis.set_ylabel("failed requests per 10 s")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def table(runs: list[InPlaceRun]) -> Table:
    shown = Table(title="the same change, the same traffic, per strategy")
    for column in ("strategy", "failed requests", "of", "tasks killed", "old gone", "refresh"):
        shown.add_column(column, justify="left" if column in ("strategy", "refresh") else "right")
    for run in runs:
        shown.add_row(
            run.strategy, f"{run.failed:,}", f"{run.requests:,}", str(run.tasks_killed), str(run.old_gone), run.refresh
        )
    return shown


def clean(name: str, run: InPlaceRun) -> bool:
    """ecs-drain's run served every request and killed no task; a guarded change that should fail rolled back."""
    should_fail = IN_PLACE_SCENARIOS[name].guarded
    return run.failed == 0 and run.tasks_killed == 0 and (not should_fail or run.stack == "UPDATE_ROLLBACK_COMPLETE")


def main(name: str, out: Path, compare: tuple[str, ...], console: Console) -> int:
    """Run the scenario under ecs-drain (watched), then under the others; print and draw them; the exit status."""
    console.print(f"[bold]ecs-drain demo[/]: {IN_PLACE_SCENARIOS[name].about}")
    console.print("Everything runs offline: moto with the real template.yaml, statemachine/ and functions/.")
    lifecycle = Lifecycle()
    runs = [measure_in_place(name, "ecs-drain", lifecycle.watch)]
    for minutes, instance, was, now in lifecycle.transitions():
        which = "old" if instance in lifecycle.old else "launched"
        console.print(f"{minutes:5.1f} min  {which} {instance}: {was} -> {now}")
    for strategy in (s for s in IN_PLACE_STRATEGIES[1:] if s in compare):
        console.print(f"Measuring the same change with {strategy}...")
        runs.append(measure_in_place(name, strategy))
    console.print(table(runs))
    path = picture(name, lifecycle, runs, out / f"demo-{name}.png")
    ok = clean(name, runs[0])
    summary = out / f"demo-{name}.json"
    summary.write_text(json.dumps({"scenario": name, "clean": ok, "runs": [r.row() for r in runs]}, indent=1))
    console.print(f"Picture: {path}  Summary: {summary}")
    console.print("failed requests: " + ", ".join(f"{r.strategy} {r.failed}" for r in runs))
    return 0 if ok else NOT_CLEAN
