"""`make demo` stays true: the default rollover exits 0 and draws its picture; a deadline scenario does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from emulation.demo import NOT_CLEAN, gone_bar, main


def test_it_runs_the_default_demo_to_a_clean_rollover_draws_it_and_ends_with_the_failed_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    assert main(["--no-live", "--pace", "0", "--out", str(tmp_path)]) == 0
    picture = tmp_path / "demo-rollover.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "demo-rollover.json").read_text())  # what --out promises
    assert summary["clean"] is True and [r["strategy"] for r in summary["runs"]] == ["ecs-drain", "seed", "none"]
    captured = capsys.readouterr()
    assert "No artists" not in captured.out + captured.err and not [w for w in recwarn if "matplotlib" in w.filename]
    assert "Clean: CloudFormation got SUCCESS" in captured.out
    last = captured.out.strip().splitlines()[-1]
    match = re.fullmatch(r"failed requests: ecs-drain (\d+), seed (\d+), none (\d+)", last)
    assert match is not None and match.group(1) == "0"
    # The same numbers as the measured run the README's table shows (the model is seeded and deterministic).
    rows = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "traffic.json").read_text())
    measured = {r["strategy"]: r["failed"] for r in rows if r["scenario"] == "rollover"}
    assert [int(n) for n in match.groups()] == [measured["ecs-drain"], measured["seed"], measured["none"]]


def test_it_exits_non_zero_when_cloudformation_is_not_told_success(tmp_path: Path) -> None:
    assert main(["--no-live", "--pace", "0", "--out", str(tmp_path), "--scenario", "deadline-fail"]) == NOT_CLEAN


def test_it_shows_the_blocked_scenario_answering_within_five_minutes_naming_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--no-live", "--pace", "0", "--out", str(tmp_path), "--scenario", "blocked"]) == NOT_CLEAN
    out = " ".join(capsys.readouterr().out.split())
    first_answer = re.search(r"(\d+\.\d) min │ answer FAILED to Delete ECSDrain", out)
    assert first_answer is not None and float(first_answer.group(1)) <= 5.0
    assert "service pinned" in out and "maximumPercent 100" in out


def test_it_reads_the_tasks_gone_bar_the_same_way_throughout() -> None:
    assert (gone_bar(4, 4).completed, gone_bar(4, 4).total) == (0, 4)  # at the start: empty
    assert gone_bar(4, 2).completed == 2  # midway: half
    assert gone_bar(4, 0).completed == gone_bar(4, 0).total == 4  # nothing left: full
    assert gone_bar(0, 0).completed == gone_bar(0, 0).total  # empty from the start: full
    assert gone_bar(4, 6).completed == 0  # more than at first (tasks landed before DRAINING): still empty
