"""What the demo shows, checked where a test can see it: lines that end with their instance, legends only with
something in them, a table within 80 columns, and words that say what happened."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from rich.console import Console

from emulation import strategies
from emulation.demo import _fleet_panel, traffic_table, verdict
from emulation.traffic import Traffic


def test_it_ends_an_instance_line_when_the_instance_is_gone_and_marks_the_tasks_killed() -> None:
    figure, axis = plt.subplots()
    samples = [(0.0, {"i-old": 2, "i-new": 1}), (60.0, {"i-old": 2, "i-new": 3}), (600.0, {"i-old": 0, "i-new": 3})]
    # i-old was terminated 2 minutes in, still running 2 tasks; i-new is there to the end (10 minutes).
    _fleet_panel(axis, ["i-new", "i-old"], samples, 0.0, "tasks", {"i-old": 2.0, "i-new": 10.0}, {"i-old"})
    lines: dict[str, Any] = {str(line.get_label()): line for line in axis.get_lines()}
    old_x, old_y = list(lines["i-old"].get_xdata()), list(lines["i-old"].get_ydata())
    assert max(old_x) == 2.0 and old_y[-1] >= 2
    assert max(lines["i-new"].get_xdata()) == 10.0
    assert legend(axis)[-1] == "terminated with tasks on it"
    plt.close(figure)


def test_it_draws_no_legend_entry_for_a_kill_that_did_not_happen() -> None:
    figure, axis = plt.subplots()
    drained_then_terminated = [(0.0, {"i-old": 1}), (30.0, {"i-old": 0})]
    _fleet_panel(axis, ["i-old"], drained_then_terminated, 0.0, "tasks", {"i-old": 1.0}, {"i-old"})
    assert legend(axis) == ["i-old"]
    plt.close(figure)


def legend(axis: Any) -> list[str]:
    return [t.get_text() for t in axis.get_legend().get_texts()]


def run(
    strategy: str, failed: int, killed: int, answer: str, stack_status: str = "UPDATE_COMPLETE", failing: int = 0
) -> strategies.Run:
    causes = {"no_healthy_target": failed}
    kept = "kept" if stack_status.startswith("UPDATE_ROLLBACK") else "deleted"
    return strategies.Run(
        "s",
        strategy,
        555_000,
        failed,
        causes,
        10_800.0,
        0.0,
        answer,
        killed,
        killed,
        3,
        stack_status,
        Traffic(),
        window_seconds=11_400,
        failing_at_end=failing,
        down_at_end=[],
        short_at_end=0,
        ended_in_window=True,
        old_fleet=kept,
    )


def test_it_fits_the_comparison_in_80_columns_with_the_tasks_killed() -> None:
    console = Console(width=80, record=True)
    rows = [
        run("ecs-drain", 0, 3, "-", "UPDATE_ROLLBACK_COMPLETE"),
        run("ecs-drain-no-preflight", 404_916, 12, "SUCCESS", failing=2_952),
        run("seed", 15_013, 11, "-"),
    ]
    console.print(traffic_table(rows))
    text = console.export_text()
    assert "…" not in text and "killed" in text and "rollback" in text
    assert "kept" in text and "404,916*" in text  # the rolled-back fleet stays; an outage still on at the end
    assert max(len(line) for line in text.splitlines()) <= 80


def test_it_does_not_call_a_rollover_clean_when_users_saw_errors() -> None:
    from emulation.scenarios import rollover_world

    with rollover_world(create=False, new_instances=0) as world:
        said = verdict(world, None, run("ecs-drain", 2_850, 0, "SUCCESS"))
    assert not any("Clean" in line for line in said)
    assert "2,850 of 555,000 requests failed (2,850 no healthy target)" in " ".join(said)
