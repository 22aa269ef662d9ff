"""`make demo` stays true: the default rollover exits 0 and draws its picture; a deadline scenario does not."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from emulation.demo import NOT_CLEAN, gone_bar, main
from emulation.strategies import STRATEGIES


def test_it_runs_the_default_demo_to_a_clean_rollover_draws_it_and_ends_with_the_failed_requests(
    tmp_path: Path,
) -> None:
    # As `make demo` runs it, in a process of its own: the comparison is measured in a forked child meanwhile.
    argv = [sys.executable, "-m", "emulation.demo", "--no-live", "--pace", "0", "--out", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    picture = tmp_path / "demo-rollover.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "demo-rollover.json").read_text())  # what --out promises
    assert summary["clean"] is True
    assert [r["strategy"] for r in summary["runs"]] == ["ecs-drain", "ecs-drain-no-preflight", "seed", "none"]
    assert "No artists" not in done.stdout + done.stderr and "Warning" not in done.stderr
    assert "Clean: CloudFormation got SUCCESS" in done.stdout
    last = done.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"failed requests: ecs-drain (\d+), ecs-drain-no-preflight (\d+), seed (\d+), none (\d+)", last
    )
    assert match is not None and match.group(1) == "0"
    # The same numbers as the measured run the README's table shows (the model is seeded and deterministic).
    rows = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "traffic.json").read_text())
    measured = {r["strategy"]: r["failed"] for r in rows if r["scenario"] == "rollover"}
    assert [int(n) for n in match.groups()] == [measured[s] for s in STRATEGIES]


def test_it_exits_non_zero_when_cloudformation_is_not_told_success(tmp_path: Path) -> None:
    # The exit status is ecs-drain's run alone: no other strategy is measured.
    argv = ["--no-live", "--pace", "0", "--out", str(tmp_path), "--scenario", "deadline-fail", "--compare", ""]
    assert main(argv) == NOT_CLEAN
    runs = json.loads((tmp_path / "demo-deadline-fail.json").read_text())["runs"]
    assert [r["strategy"] for r in runs] == ["ecs-drain"] and runs[0]["answer"] == "FAILED"


def test_it_shows_the_blocked_scenario_rolled_back_at_once_naming_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--no-live", "--pace", "0", "--out", str(tmp_path), "--scenario", "blocked"]
    assert main([*argv, "--compare", "ecs-drain-no-preflight"]) == NOT_CLEAN
    out = " ".join(capsys.readouterr().out.split())
    answer = re.search(r"(\d+\.\d) min │ answer FAILED to Update ECSDrain", out)
    assert answer is not None and float(answer.group(1)) <= 0.5
    assert "service pinned" in out and "maximumPercent 100" in out
    assert "Rolled back" in out and "UPDATE_ROLLBACK_COMPLETE" in out and "no request failed" in out
    runs = {r["strategy"]: r for r in json.loads((tmp_path / "demo-blocked.json").read_text())["runs"]}
    assert runs["ecs-drain"]["stack_status"] == "UPDATE_ROLLBACK_COMPLETE"
    assert runs["ecs-drain-no-preflight"]["stack_status"] == "UPDATE_COMPLETE"  # the cleanup went on


def test_it_refuses_a_strategy_it_does_not_know_naming_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--compare", "seed,drain-all"])
    said = capsys.readouterr().err
    choices = "cdk-hook, ecs-drain-no-preflight, ecs-managed-draining, none, seed"
    assert f"unknown strategy drain-all: choose from {choices}" in said


def test_it_draws_an_in_place_change_with_each_instances_lifecycle_states_and_exits_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """refresh-bad-ami under ecs-drain: the launched instances held in Pending:Wait and terminated (ABANDON), the
    rollback's one InService, the stack update rolled back, no request failed; `none` beside it."""
    argv = ["--no-live", "--out", str(tmp_path), "--scenario", "refresh-bad-ami", "--compare", "none"]
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert re.search(r"launched i-\w+: Pending:Wait -> Terminated", out) and "Pending:Wait -> InService" in out
    runs = {r["strategy"]: r for r in json.loads((tmp_path / "demo-refresh-bad-ami.json").read_text())["runs"]}
    assert runs["ecs-drain"]["failed"] == 0 and runs["ecs-drain"]["stack"] == "UPDATE_ROLLBACK_COMPLETE"
    assert runs["none"]["failed"] > 0
    assert (tmp_path / "demo-refresh-bad-ami.png").stat().st_size > 10_000


def test_it_reads_the_tasks_gone_bar_the_same_way_throughout() -> None:
    assert (gone_bar(4, 4).completed, gone_bar(4, 4).total) == (0, 4)  # at the start: empty
    assert gone_bar(4, 2).completed == 2  # midway: half
    assert gone_bar(4, 0).completed == gone_bar(4, 0).total == 4  # nothing left: full
    assert gone_bar(0, 0).completed == gone_bar(0, 0).total  # empty from the start: full
    assert gone_bar(4, 6).completed == 0  # more than at first (tasks landed before DRAINING): still empty
