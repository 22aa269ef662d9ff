"""Drains longer than one execution's history: they go on in the next execution of their chain.

Step Functions fails an execution whose history reaches 25,000 events; the emulation enforces that quota. So that a
chain of several executions runs in seconds, these tests lower the quota on both sides alike: the emulation fails
an execution at HISTORY_LIMIT events, and the drain goes on after CHECKS_PER_EXECUTION checks (13 events each, as
with the real figures: 1,538 checks of 25,000 events). Nothing else differs from a drain under the real quota.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest

from ecs_drain.decisions import rule
from ecs_drain.model.state import (
    FAILED_TRIES_PER_EXECUTION,
    HISTORY_EVENTS_PER_CHECK,
    HISTORY_EVENTS_PER_FAILED_TRY,
    WENT_ON,
)
from ecs_drain_cli.main import main
from emulation import moto_patches
from emulation.scenarios import World, rollover_world
from tests.e2e.helpers import executions, history

CHECKS_PER_EXECUTION = 20
HISTORY_LIMIT = 400  # 20 checks of 13 events, and the start, the answer and the handing on: 400 at most
TASK_SECONDS = 600  # a standalone task the drain waits for (StandaloneTasks WAIT): at 5 s, about 120 checks


@pytest.fixture
def small_history(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(moto_patches, "HISTORY_EVENTS_LIMIT", HISTORY_LIMIT)
    monkeypatch.setattr(rule, "CHECKS_PER_EXECUTION", CHECKS_PER_EXECUTION)
    yield


def chain(world: World) -> list[dict[str, Any]]:
    """The executions of the one drain in the world, first to last, named after the first."""
    ended = sorted(executions(world), key=lambda e: e["startDate"])
    first = ended[0]["name"]
    assert [e["name"] for e in ended] == [first] + [f"{first}-{n}" for n in range(2, len(ended) + 1)]
    return ended


def assert_one_chain_no_quota_failure(ended: list[dict[str, Any]]) -> dict[str, Any]:
    """Every execution but the last went on in the next (SUCCEEDED, its output naming it); none failed; the last
    one's output is the drain's summary."""
    assert len(ended) >= 3, [e["name"] for e in ended]
    for execution, following in pairwise(ended):
        output = json.loads(execution["output"])
        assert execution["status"] == "SUCCEEDED" and output == {
            "outcome": WENT_ON,
            "wentOnIn": following["executionArn"],
        }
    last = ended[-1]
    assert last["status"] == "SUCCEEDED", last
    return dict(json.loads(last["output"]))


@pytest.mark.usefixtures("small_history")
def test_it_drains_by_hand_through_several_executions_and_ends_within_two_polls_of_its_last_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with rollover_world(new_fleet_registers=None, standalone=[(0, TASK_SECONDS)]) as world:
        started_at = world.aws.clock.now()
        code = main(
            [
                "--state-machine-arn",
                world.aws.state_machine_arn,
                "start",
                "--cluster",
                "web",
                "--spot-fleet",
                world.old.request_id,
                "--poll",
                "5",
                "--watch",
                "--plain",
                "--interval",
                "0.05",
            ]
        )
        out = capsys.readouterr().out
        ended = chain(world)
        summary = assert_one_chain_no_quota_failure(ended)
        assert code == 0 and summary["outcome"] == "DRAINED", summary
        # Within two polls of the standalone task's end.
        [stopped_at] = [t.stopped_at for t in world.sim.tasks.values() if t.service is None]
        assert stopped_at is not None and started_at + summary["seconds"] <= stopped_at + 2 * 5, summary
        assert summary["checks"] > 2 * CHECKS_PER_EXECUTION
        # No history near the quota: each execution handed on with room to spare.
        for execution in ended:
            assert len(history(world, execution["executionArn"])) < HISTORY_LIMIT
        # The command line followed the chain to its end.
        assert out.count("Went on in ") == len(ended) - 1 and "Outcome: DRAINED" in out, out
        assert CHECKS_PER_EXECUTION * HISTORY_EVENTS_PER_CHECK < HISTORY_LIMIT


@pytest.mark.usefixtures("small_history")
def test_it_answers_a_delete_whose_drain_goes_on_in_new_executions_exactly_once() -> None:
    with rollover_world(new_fleet_registers=None, standalone=[(0, TASK_SECONDS)]) as world:
        request, answer = world.drain_old(wall_seconds=300, PollIntervalSeconds="5")
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        assert answer.body["Reason"].startswith("Drained"), answer.body["Reason"]
        summary = assert_one_chain_no_quota_failure(chain(world))
        assert summary["answeredCloudFormation"] is True and summary["outcome"] == "DRAINED"
        assert [a for a in world.server.answers if a.request_id == request.request_id] == [answer]


def test_it_goes_on_in_a_new_execution_after_two_hundred_failed_tries_in_a_row_under_the_real_quota() -> None:
    """The drain function crashes for its first 750 invocations (250 failed tries of three, over an hour): the
    state machine's own count hands the drain on after 200 in a row, under the real 25,000 events, and the next
    execution drains once the function recovers. Nothing is answered early (a drain by hand: no deadline near)."""
    with rollover_world(new_fleet_registers=None) as world:
        world.aws.crashes["DrainFunction"] = lambda n: n <= 750
        code = main(
            ["--state-machine-arn", world.aws.state_machine_arn, "start", "--cluster", "web", "--spot-fleet",
             world.old.request_id, "--plain", "--interval", "0.05"]
        )  # fmt: skip
        assert code == 0
        ended = chain(world)
        assert len(ended) == 2 and json.loads(ended[0]["output"])["outcome"] == WENT_ON
        summary = json.loads(ended[1]["output"])
        assert summary["outcome"] == "DRAINED" and summary["status"] == "SUCCESS", summary
        # The whole history (the emulation answers past GetExecutionHistory's page of 1,000).
        first = world.aws.sfn().get_execution_history(executionArn=ended[0]["executionArn"], maxResults=30_000)[
            "events"
        ]
        failed = sum(1 for e in first if e["type"] == "PassStateEntered")  # "Count the failed try", and the numbering
        assert failed == FAILED_TRIES_PER_EXECUTION + 2
        assert len(first) <= FAILED_TRIES_PER_EXECUTION * HISTORY_EVENTS_PER_FAILED_TRY + 20


@pytest.mark.usefixtures("small_history")
def test_it_finds_the_chain_for_a_delete_delivered_again_after_its_drain_went_on() -> None:
    """The same Delete delivered again once the drain runs in its second execution: the first execution of that
    name has ended (SUCCEEDED, WENT_ON), but the chain runs on: nothing new is started, and CloudFormation gets one
    answer, from the last execution."""
    with rollover_world(new_fleet_registers=None, standalone=[(0, TASK_SECONDS)]) as world:
        request = world.cfn.request(
            "Delete", "ECSDrain", {**world.properties, "PollIntervalSeconds": "5"}, physical_id=world.physical_id
        )
        world.cfn.send(request)
        sfn = world.aws.sfn()
        for _ in range(600):
            names = [e["name"] for e in sfn.list_executions(stateMachineArn=world.aws.state_machine_arn)["executions"]]
            if any(n.endswith("-2") for n in names):
                break
            time.sleep(0.05)
        assert any(n.endswith("-2") for n in names), names
        world.cfn.send(request)  # a redelivery: the execution of the request's name has ended, its chain has not
        answer = world.cfn.wait_for_answer(request, wall_seconds=300)
        assert answer is not None and answer.body["Reason"].startswith("Drained"), answer
        summary = assert_one_chain_no_quota_failure(chain(world))
        assert summary["outcome"] == "DRAINED"
        assert [a for a in world.server.answers if a.request_id == request.request_id] == [answer]
