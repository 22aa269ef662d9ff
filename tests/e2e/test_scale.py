"""Case 17: 1,000 target instances in a 5,000-instance cluster, within the ECS API limits, with a small state."""

from __future__ import annotations

import json
import math

import pytest

from emulation.ecs_simulator import ServiceSpec
from emulation.scenarios import rollover_world
from tests.e2e.helpers import executions, history

TARGETS, CLUSTER = 1000, 5000


@pytest.mark.slow
def test_it_drains_1000_targets_in_a_5000_instance_cluster_within_the_limits() -> None:
    services = [
        ServiceSpec(f"svc{n}", cpu=256, memory=256, desired=CLUSTER // 10, deregistration_delay=30) for n in range(10)
    ]
    with rollover_world(
        old_instances=TARGETS,
        new_instances=CLUSTER - TARGETS,
        new_fleet_registers=None,
        services=services,
        log_level="WARNING",
    ) as world:
        request = world.cfn.request("Delete", "ECSDrain", world.properties, physical_id=world.physical_id)
        world.cfn.send(request)
        answer = world.cfn.wait_for_answer(request, wall_seconds=900)
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert f"Drained {TARGETS} container instances" in answer.body["Reason"]
        # every call stayed within the API limits the emulation enforces (a call beyond one fails the step)
        assert not [i for i in world.aws.invocations if i.error]
        checks = [i for i in world.aws.invocations if i.function == "DrainFunction" and i.action == "check"]
        # after the first check, a check costs ceil(pending/100) describes plus a few per instance reaching zero,
        # and never lists the cluster
        for later in checks[1:]:
            assert later.calls["ecs:ListContainerInstances"] == 0
            assert later.calls["ecs:DescribeContainerInstances"] <= math.ceil(TARGETS / 100)
        (execution,) = executions(world)
        sizes = [
            len(json.dumps(e.get(k, {})))
            for e in history(world, execution["executionArn"])
            for k in ("stateEnteredEventDetails", "stateExitedEventDetails")
        ]
        assert max(sizes) < 64_000
        assert world.sim.record.killed == []
