"""The provider deployed again while a drain runs: the execution runs the code it started with to its end."""

from __future__ import annotations

import json
from typing import Any

from emulation.scenarios import rollover_world, services
from tests.e2e.helpers import executions, old_tasks_not_stopped

CALLED: list[str] = []


def unreadable_state_handler(event: dict[str, Any], _context: Any) -> None:
    """A newer DrainFunction that cannot read the state an older one wrote (the worst an upgrade can bring)."""
    CALLED.append(str(event.get("Action")))
    raise KeyError("a field this version expects is not in the state")


def test_it_ends_a_drain_as_it_would_have_when_the_drain_function_is_replaced_midway() -> None:
    CALLED.clear()
    with rollover_world(services=services(6, 1, deregistration_delay=60), new_fleet_registers=None) as world:
        machine = world.aws.sfn().describe_state_machine(stateMachineArn=world.aws.state_machine_arn)
        assert ":function:ecs-drain-DrainFunction:1" in machine["definition"]  # the version, not $LATEST

        deployed: list[float] = []

        def deploy() -> None:
            handler = f"{__name__}.unreadable_state_handler"
            assert world.aws.deploy_handler("DrainFunction", handler) == 2
            deployed.append(world.aws.clock.now())

        world.sim.at(world.aws.clock.now() + 40, deploy)  # after the first checks, before the tasks are STOPPED
        _, answer = world.drain_old(wall_seconds=300, PollIntervalSeconds="15")
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        assert answer.body["Reason"].startswith("Drained"), answer.body["Reason"]
        assert old_tasks_not_stopped(world) == 0
        assert deployed and answer.at > deployed[0] + 30  # checks went on for a while under the new deployment
        [execution] = executions(world)
        assert json.loads(execution["output"])["checks"] >= 3  # it went on checking after the deployment
        assert CALLED == []  # the new version never ran a step of the drain under way
        machine = world.aws.sfn().describe_state_machine(stateMachineArn=world.aws.state_machine_arn)
        assert ":function:ecs-drain-DrainFunction:2" in machine["definition"]  # the next execution runs the new code
