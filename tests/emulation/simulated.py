"""An ECS simulator on moto, with a few EC2 instances to register: for pinning the emulation's models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from moto import mock_aws
from moto.ec2.models import ec2_backends
from moto.ecs.models import ecs_backends

from emulation.ecs_simulator import EcsSimulator
from emulation.sim_clock import SimClock

ACCOUNT, REGION = "123456789012", "us-east-1"


@contextmanager
def simulator(instances: int = 3) -> Iterator[tuple[EcsSimulator, list[str]]]:
    """The simulator on cluster `web`, and the ids of EC2 instances it may register."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = sorted(ec2_backends[ACCOUNT][REGION].amis)[0]  # any AMI moto knows (DescribeImages is slow)
        launched = ec2.run_instances(ImageId=image, MinCount=instances, MaxCount=instances)["Instances"]
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName="web")
        yield EcsSimulator(ecs_backends[ACCOUNT][REGION], "web", SimClock()), [i["InstanceId"] for i in launched]
