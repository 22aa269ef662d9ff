"""The example stacks, driven through the offline emulation: replacement update -> drain -> SUCCESS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from emulation import template as cfn
from emulation.scenarios import rollover_world

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
TARGET_TYPES = {"SpotFleet": "AWS::EC2::SpotFleet", "AutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup"}


def drain_resource(template: dict[str, Any]) -> dict[str, Any]:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ECSDrain"]
    return dict(resource["Properties"])


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_it_wires_the_example_so_the_drain_runs_before_the_old_capacity_goes(path: Path) -> None:
    template = cfn.load(path)
    properties = drain_resource(template)
    (kind,) = [k for k in TARGET_TYPES if k in properties]
    target = properties[kind]["Ref"]
    assert template["Resources"][target]["Type"] == TARGET_TYPES[kind]  # a Ref: the drain depends on the fleet
    assert properties["Cluster"] == {"Ref": "Cluster"}
    assert template["Parameters"]["EcsAmiId"]["Default"].startswith("/aws/service/ecs/optimized-ami/")
    assert "ECSDrain" in template["Resources"]["Service"]["DependsOn"]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_it_drains_the_example_through_a_replacement_update(path: Path) -> None:
    properties = drain_resource(cfn.load(path))
    (kind,) = [k for k in TARGET_TYPES if k in properties]
    policy = {k: v for k, v in properties.items() if k not in ("ServiceToken", "Cluster", kind)}
    with rollover_world(kind=kind, properties=policy) as world:
        update, answer = world.rollover()
        assert update is not None and update.body["Status"] == "SUCCESS"
        assert answer is not None
        assert answer.body["Status"] == "SUCCESS", answer.body
        assert world.sim.record.killed == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_it_makes_the_example_ready_for_a_team_to_deploy(path: Path) -> None:
    template = cfn.load(path)
    parameters, resources = template["Parameters"], template["Resources"]
    assert "NAT gateway or VPC endpoints" in parameters["SubnetIds"]["Description"]  # or the agent never registers
    assert parameters["ContainerInsights"]["Default"] == "disabled"
    user_data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert "${RolloverToken}" in user_data  # a new value replaces the fleet: a drain to watch without a new AMI
    assert drain_resource(template)["OnTimeout"] == "CONTINUE"
    if "SpotFleet" in resources:
        assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in user_data
    else:
        assert resources["AutoScalingGroup"]["CreationPolicy"]["ResourceSignal"]["Count"] == {"Ref": "Capacity"}
        assert "cfn-signal" in user_data
