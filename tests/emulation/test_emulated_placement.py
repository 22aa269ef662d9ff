"""The emulation's placement model on small hand-computed cases: constraints, static host ports, interfaces,
architectures, required attributes, GPUs, capacity providers, and the service events ECS writes when nothing can take
a task."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import boto3
import pytest
from moto.ec2.models import ec2_backends

from emulation.ecs_simulator import AGENT_VERSION, EVENT_REPEAT_SECONDS, CapacityProviderSpec, EcsSimulator, ServiceSpec
from tests.emulation.simulated import ACCOUNT, REGION, simulator

if TYPE_CHECKING:
    from mypy_boto3_ec2.literals import InstanceTypeType

POOL: list[str] = []  # the EC2 instances the fixture launched


@pytest.fixture
def sim() -> Iterator[EcsSimulator]:
    with simulator() as (simulated, ec2_ids):
        POOL[:] = ec2_ids
        yield simulated


def register(sim: EcsSimulator, n: int, **attributes: str) -> str:
    return sim.register_instance(POOL[n], attributes=attributes)


def homes(sim: EcsSimulator, service: str) -> list[str]:
    return sorted(t.instance_id for t in sim.service_tasks(service))


def test_it_places_one_task_per_instance_under_distinct_instance_and_says_when_none_is_left(sim: EcsSimulator) -> None:
    a, b = register(sim, 0), register(sim, 1)
    sim.add_service(ServiceSpec("spread", 256, 256, desired=3, placement_constraints=[{"type": "distinctInstance"}]))
    assert homes(sim, "spread") == sorted([a, b])  # the third fits nowhere: both instances hold one
    events = sim.record.service_events["spread"]
    assert [m for _, m in events] == [
        "service (spread) was unable to place a task because no container instance met all of its requirements."
    ]


def test_it_places_on_members_only_and_names_no_closest_instance_when_constraints_rule_all_out(
    sim: EcsSimulator,
) -> None:
    register(sim, 0)
    old = register(sim, 1, generation="old")
    constraint = {"type": "memberOf", "expression": "attribute:generation == old"}
    sim.add_service(ServiceSpec("legacy", 256, 256, desired=2, placement_constraints=[constraint]))
    assert homes(sim, "legacy") == [old, old]
    assert sim.record.service_events["legacy"] == []


def test_it_keeps_a_static_host_port_to_one_task_per_instance_and_names_the_closest_instance(
    sim: EcsSimulator,
) -> None:
    a = register(sim, 0)
    sim.add_service(ServiceSpec("edge", 256, 256, desired=2, host_port=80))
    assert homes(sim, "edge") == [a]
    ((_, message),) = sim.record.service_events["edge"]
    assert message.endswith(
        f"The closest matching container-instance {a} is already using a port required by your task."
    )


def test_it_does_not_repeat_an_unresolved_event_within_six_hours(sim: EcsSimulator) -> None:
    register(sim, 0)
    sim.add_service(ServiceSpec("big", cpu=4096, memory=256, desired=1))
    for _ in range(3):
        sim.instances_changed()  # the scheduler tries again
    assert len(sim.record.service_events["big"]) == 1
    assert "has insufficient CPU units available" in sim.record.service_events["big"][0][1]
    sim.clock.advance(EVENT_REPEAT_SECONDS)
    sim.instances_changed()
    assert len(sim.record.service_events["big"]) == 2


def test_it_shows_a_static_host_port_in_use_and_custom_attributes_as_describe_container_instances_does(
    sim: EcsSimulator,
) -> None:
    a = register(sim, 0, tier="web")
    sim.add_service(ServiceSpec("edge", 256, 256, desired=1, host_port=80))
    instance = sim.instances[a]
    ports = next(r["stringSetValue"] for r in instance.remaining_resources if r["name"] == "PORTS")
    assert "80" in ports and instance.attributes["tier"] == "web"
    (task,) = sim.service_tasks("edge")
    sim.services["edge"].desired = 0  # no replacement takes the port again
    sim.stop(task.arn, "test")
    sim.clock.advance(60)  # deregistration, SIGTERM, deprovisioning: STOPPED
    ports = next(r["stringSetValue"] for r in instance.remaining_resources if r["name"] == "PORTS")
    assert "80" not in ports


def test_it_places_the_daemon_task_on_a_new_instance_before_replica_tasks(sim: EcsSimulator) -> None:
    """ECS reserves an instance's room for its daemon tasks: 1024 CPU takes the 128 daemon, then three of 256."""
    sim.add_service(ServiceSpec("app", 256, 256, desired=4))
    sim.add_service(ServiceSpec("agent", 128, 128, daemon=True))
    a = sim.register_instance(POOL[0], cpu=1024, memory=4096)
    assert homes(sim, "agent") == [a] and homes(sim, "app") == [a, a, a]


def test_it_leaves_tasks_pending_on_an_instance_whose_containers_never_start(sim: EcsSimulator) -> None:
    sim.containers_fail_on.add(POOL[0])
    sim.add_service(ServiceSpec("agent", 128, 128, daemon=True, start_seconds=5))
    register(sim, 0)
    sim.clock.advance(600)
    assert [t.last for t in sim.service_tasks("agent")] == ["PENDING"]


def launch(instance_type: str) -> str:
    """An EC2 instance of that type, for the simulator to register."""
    ec2 = boto3.client("ec2", region_name=REGION)
    image = sorted(ec2_backends[ACCOUNT][REGION].amis)[0]
    kind = cast("InstanceTypeType", instance_type)
    reply = ec2.run_instances(ImageId=image, InstanceType=kind, MinCount=1, MaxCount=1)
    return str(reply["Instances"][0]["InstanceId"])


def test_it_registers_what_a_current_agent_registers(sim: EcsSimulator) -> None:
    arm = sim.register_instance(launch("m7g.large"))
    graviton = sim.instances[arm]
    assert graviton.attributes["ecs.cpu-architecture"] == "arm64"
    assert graviton.attributes["ecs.instance-type"] == "m7g.large"
    assert "ecs.capability.secrets.asm.environment-variables" in graviton.attributes
    assert graviton.version_info["agentVersion"] == AGENT_VERSION
    old = sim.instances[
        sim.register_instance(launch("c5.large"), missing_capabilities=frozenset({"ecs.capability.task-eni"}))
    ]
    assert old.attributes["ecs.cpu-architecture"] == "x86_64" and "ecs.capability.task-eni" not in old.attributes


@pytest.mark.parametrize(
    ("instance_type", "trunked", "tasks"), [("c5.large", False, 2), ("m5.xlarge", False, 3), ("m5.large", True, 10)]
)
def test_it_gives_awsvpc_tasks_the_interfaces_of_the_instance_type_less_the_primary(
    sim: EcsSimulator, instance_type: str, trunked: bool, tasks: int
) -> None:
    """c5.large has 3 interfaces, m5.xlarge 4 (ECS's own examples: 2 and 3 awsvpc tasks); trunked m5.large, 10."""
    a = sim.register_instance(launch(instance_type), cpu=8192, memory=16384, trunked=trunked)
    sim.add_service(ServiceSpec("api", 128, 128, desired=tasks + 1, awsvpc=True))
    assert homes(sim, "api") == [a] * tasks
    ((_, message),) = sim.record.service_events["api"]
    assert message.endswith(f'The closest matching container-instance {a} encountered error "RESOURCE:ENI".')


def test_it_places_by_architecture_and_required_attributes_as_missing_attributes(sim: EcsSimulator) -> None:
    arm = sim.register_instance(launch("m7g.large"))
    sim.add_service(ServiceSpec("x86", 128, 128, desired=1, cpu_architecture="X86_64"))
    assert homes(sim, "x86") == []
    assert sim.record.service_events["x86"][0][1].endswith(
        f"The closest matching container-instance {arm} is missing an attribute required by your task."
    )
    sim.add_service(ServiceSpec("arm", 128, 128, desired=1, cpu_architecture="ARM64"))
    assert homes(sim, "arm") == [arm]


def test_it_places_gpu_tasks_on_the_gpus_of_the_type(sim: EcsSimulator) -> None:
    g4 = sim.register_instance(launch("g4dn.xlarge"), cpu=4096, memory=16384)  # one GPU
    sim.add_service(ServiceSpec("train", 128, 128, desired=2, gpus=1))
    assert homes(sim, "train") == [g4]
    assert 'encountered error "RESOURCE:GPU"' in sim.record.service_events["train"][0][1]


def test_it_reads_memberof_as_java_does_the_whole_value_with_its_case(sim: EcsSimulator) -> None:
    c5 = sim.register_instance(launch("c5.large"))
    sim.register_instance(launch("m5.large"))
    for name, expression in [
        ("whole", "attribute:ecs.instance-type =~ c5.*"),
        ("part", "attribute:ecs.instance-type =~ c5"),
        ("posix", r"attribute:ecs.instance-type =~ \p{Lower}\d\.large and task:group != service:x"),
    ]:
        sim.add_service(
            ServiceSpec(
                name, 128, 128, desired=1, placement_constraints=[{"type": "memberOf", "expression": expression}]
            )
        )
    assert homes(sim, "whole") == [c5] and homes(sim, "part") == []
    assert len(homes(sim, "posix")) == 1


def test_it_scales_a_managed_capacity_provider_out_for_tasks_it_cannot_place(sim: EcsSimulator) -> None:
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    image = sorted(ec2_backends[ACCOUNT][REGION].amis)[0]
    template = ec2.create_launch_template(
        LaunchTemplateName="t", LaunchTemplateData={"ImageId": image, "InstanceType": "c5.large"}
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="g",
        MinSize=1,
        MaxSize=2,
        DesiredCapacity=1,
        AvailabilityZones=[f"{REGION}a"],
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"], "Version": "1"},
    )
    (first,) = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]["Instances"]
    sim.add_capacity_provider(CapacityProviderSpec("cp", "g", instance_size=(1024, 2048), boot_seconds=60))
    sim.register_instance(first["InstanceId"], cpu=1024, memory=2048, capacity_provider="cp")
    sim.add_service(ServiceSpec("app", 1024, 1024, desired=3, capacity_providers=["cp"]))
    assert len(homes(sim, "app")) == 1  # one instance of room; the group grows by one (its maximum is 2)
    sim.clock.advance(61)
    assert len(homes(sim, "app")) == 2 and len(sim.scaled_out["g"]) == 1
    sim.clock.advance(600)
    assert len(homes(sim, "app")) == 2  # at its maximum: the third waits
