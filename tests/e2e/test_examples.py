"""The example stacks, driven through the offline emulation: replacement update -> drain -> SUCCESS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from ecs_drain.runtime.observability import SERVICE
from emulation import template as cfn
from emulation.scenarios import rollover_world

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
TARGET_TYPES = {"SpotFleet": "AWS::EC2::SpotFleet", "AutoScalingGroup": "AWS::AutoScaling::AutoScalingGroup"}


def drain_resource(template: dict[str, Any]) -> dict[str, Any]:
    (resource,) = [r for r in template["Resources"].values() if r["Type"] == "Custom::ECSDrain"]
    return dict(resource["Properties"])


def in_place(path: Path) -> bool:
    """An example whose group is refreshed in place (its termination hook drained), not replaced."""
    return "TerminationHook" in drain_resource(cfn.load(path))


REPLACED = [p for p in EXAMPLES if not in_place(p)]
IN_PLACE = [p for p in EXAMPLES if in_place(p)]


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


@pytest.mark.parametrize("path", REPLACED, ids=[p.stem for p in REPLACED])
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
    said = " ".join(parameters["InstanceSubnetIds"]["Description"].split())
    assert "NAT gateway or VPC endpoints" in said  # or the agent never registers
    assert resources["LoadBalancer"]["Properties"]["Subnets"] == {"Ref": "LoadBalancerSubnetIds"}  # public ones
    assert parameters["ContainerInsights"]["Default"] == "disabled"
    user_data = resources["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
    assert "${RolloverToken}" in user_data  # a new value replaces the fleet: a drain to watch without a new AMI
    assert drain_resource(template)["OnTimeout"] == "CONTINUE"
    if "SpotFleet" in resources:
        assert "ECS_ENABLE_SPOT_INSTANCE_DRAINING=true" in user_data
    elif in_place(path):  # the instance refresh takes no cfn-signal; its alarm is the drains' for this group
        group = resources["AutoScalingGroup"]
        refresh = group["UpdatePolicy"]["AutoScalingInstanceRefresh"]
        assert refresh["Preferences"]["AlarmSpecification"]["Alarms"] == [{"Ref": "DrainBlockedAlarm"}]
        alarm = resources["DrainBlockedAlarm"]["Properties"]
        assert alarm["MetricName"] == "HookDrainBlocked" and alarm["Namespace"] == "ECSDrain"
        assert alarm["Dimensions"] == [  # exactly the dimensions ecs-drain publishes it with
            {"Name": "AutoScalingGroupName", "Value": group["Properties"]["AutoScalingGroupName"]},
            {"Name": "service", "Value": SERVICE},
        ]
        hooks = {h["LifecycleTransition"]: h for h in group["Properties"]["LifecycleHookSpecificationList"]}
        drain, check = hooks["autoscaling:EC2_INSTANCE_TERMINATING"], hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]
        assert drain["LifecycleHookName"] == drain_resource(template)["TerminationHook"]
        assert "cfn-signal" not in user_data
        # The launch hook holds a new instance through its check; should ecs-drain not answer, it goes in.
        assert check["LifecycleHookName"] == drain_resource(template)["LaunchHook"]
        assert check["HeartbeatTimeout"] >= drain_resource(template)["PreflightTimeoutSeconds"] + 135
        assert check["DefaultResult"] == "CONTINUE"
    else:
        assert resources["AutoScalingGroup"]["CreationPolicy"]["ResourceSignal"]["Count"] == {"Ref": "Capacity"}
        assert "cfn-signal" in user_data


@pytest.mark.parametrize("path", IN_PLACE, ids=[p.stem for p in IN_PLACE])
def test_it_drains_each_instance_of_the_example_through_its_instance_refresh(path: Path) -> None:
    """The example's hooks and properties on the emulated group, and its refresh's preferences: every new instance
    checked before it goes InService, every old one drained before it goes, none of its tasks killed."""
    template = cfn.load(path)
    properties = drain_resource(template)
    group = template["Resources"]["AutoScalingGroup"]
    named = {h["LifecycleTransition"]: h for h in group["Properties"]["LifecycleHookSpecificationList"]}
    preferences = dict(group["UpdatePolicy"]["AutoScalingInstanceRefresh"]["Preferences"])
    preferences.pop("AlarmSpecification")  # the alarm is not evaluated offline
    kept = ("ServiceToken", "Cluster", "AutoScalingGroup", "TerminationHook", "LaunchHook")
    policy = {k: v for k, v in properties.items() if k not in kept}
    hooks = {
        prop: (named[transition]["LifecycleHookName"], named[transition]["HeartbeatTimeout"])
        for prop, transition in (
            ("TerminationHook", "autoscaling:EC2_INSTANCE_TERMINATING"),
            ("LaunchHook", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        )
    }
    with rollover_world(kind="AutoScalingGroup", new_instances=0) as world:
        answer = world.bind_hooks(hooks, **policy)
        assert answer is not None and answer.body["Status"] == "SUCCESS", answer
        refresh = world.refresh_in_place(wall_seconds=300, **preferences)
        assert refresh["Status"] == "Successful", refresh
        assert world.aws.wait_for_executions(wall_seconds=120)
        assert world.sim.record.killed == []
        assert world.api.lifecycle is not None  # each new instance checked, each old one drained: none timed out
        assert all(a.result == "CONTINUE" and not a.timed_out for a in world.api.lifecycle.actions.actions)


ECS_ENDPOINTS = ("ecs", "ecs-agent", "ecs-telemetry")
ECR_ENDPOINTS = ("ecr.api", "ecr.dkr", "s3")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_it_lists_every_vpc_endpoint_the_examples_instances_need(path: Path) -> None:
    """What the user data and the image need, read from the template: the endpoint list must name each, and an
    image no endpoint serves (public.ecr.aws) must be said to need the internet."""
    template = cfn.load(path)
    said = " ".join(template["Parameters"]["InstanceSubnetIds"]["Description"].split())
    listed = set(re.findall(r"[a-z][a-z0-9.-]*", said[said.index("VPC endpoints (") : said.index("The default Image")]))
    user_data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    needed = {*ECS_ENDPOINTS, *ECR_ENDPOINTS}  # the agent; images and packages (ECR, S3)
    if "cfn-signal" in user_data["Fn::Base64"]["Fn::Sub"]:
        needed.add("cloudformation")
    assert needed <= listed, sorted(needed - listed)
    image = template["Parameters"]["Image"]["Default"]
    if image.startswith("public.ecr.aws/"):
        assert "public.ecr.aws, which no VPC endpoint serves" in said
    readme = (path.parent / "README.md").read_text()
    assert f"--template-file examples/{path.name}" in readme or path.name in readme
    assert "--capabilities CAPABILITY_IAM" in readme and "LoadBalancerSubnetIds=" in readme
