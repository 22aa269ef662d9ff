"""What users see: failed requests per strategy on the same world and traffic, end to end on the emulation."""

from __future__ import annotations

import json

import pytest

from emulation.catalog import SCENARIOS, world_options
from emulation.scenarios import rollover_world
from emulation.strategies import measure, run

from .helpers import executions


@pytest.mark.parametrize("scenario", ["rollover", "long-requests"])
def test_it_fails_no_request_where_every_service_keeps_half_its_tasks_while_no_drain_fails_many(scenario: str) -> None:
    drained = measure(scenario, "ecs-drain")
    assert drained.failed == 0 and drained.requests > 10_000 and drained.answer == "SUCCESS"
    assert drained.tasks_killed == 0
    undrained = measure(scenario, "none")
    assert undrained.failed > 0  # measured on the same traffic, as the model gives it
    assert undrained.failed == sum(undrained.causes.values())


def test_it_names_the_service_a_correct_drain_still_takes_to_zero_healthy_targets() -> None:
    scenario = SCENARIOS["min-zero"]
    with rollover_world(log_level="WARNING", **world_options(scenario)) as world:
        result = run(world, "min-zero", "ecs-drain", scenario.policy)
        assert result.answer == "SUCCESS"
        assert result.failed == result.causes["no_healthy_target"] > 0  # shown honestly: solo was offline
        answer = world.cfn.delete_tries[-1][1]
        assert answer is not None and "Warning: service solo" in answer.body["Reason"]
        assert "zero healthy" in answer.body["Reason"]
        summary = json.loads(executions(world)[0]["output"])
        assert [f["subject"] for f in summary["diagnosis"]] == ["service solo"]


def test_it_counts_a_seed_drain_that_dies_at_its_lambda_timeout_as_cloudformation_waits_for_it() -> None:
    result = measure("deadline-continue", "seed")
    # The job never ends: the seed Lambda dies at 900 s, CloudFormation waits out its 3600 s three times.
    assert result.answer == "-" and result.cleanup_seconds == pytest.approx(3 * 3600, abs=5)
    drained = measure("deadline-continue", "ecs-drain")
    assert drained.answer == "SUCCESS" and drained.cleanup_seconds < 700
