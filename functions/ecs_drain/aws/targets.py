"""Target resolution: which EC2 instances a target names (ecs_calls finds their container instances)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..decisions.properties import DrainProperties
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client

    from .clients import Clients

_GONE_ERRORS = {"InvalidSpotFleetRequestId.NotFound", "InvalidSpotFleetRequestId.Malformed", "InvalidFleetId.NotFound"}


def ec2_instance_ids(props: DrainProperties, clients: Clients) -> list[str] | None:
    """The EC2 instances of the target, or None when the target itself is gone."""
    kind, target = props.target_kind, props.target
    if kind == "InstanceIds":
        return list(target)
    try:
        if kind == "SpotFleet":
            return _spot_fleet_instances(clients.ec2, target[0])
        if kind == "Fleet":
            return _fleet_instances(clients.ec2, target[0])
        return _auto_scaling_instances(clients.autoscaling, target[0])
    except ClientError as error:
        if error_code(error) in _GONE_ERRORS:
            return None
        raise


def _spot_fleet_instances(ec2: EC2Client, request_id: str) -> list[str] | None:
    # A cancelled request may still list instances being terminated: those are drained too.
    if not ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[request_id])["SpotFleetRequestConfigs"]:
        return None
    return _active_instances(
        functools.partial(ec2.describe_spot_fleet_instances, SpotFleetRequestId=request_id, MaxResults=1000)
    )


def _fleet_instances(ec2: EC2Client, fleet_id: str) -> list[str] | None:
    return _active_instances(functools.partial(ec2.describe_fleet_instances, FleetId=fleet_id, MaxResults=1000))


def _active_instances(describe: Callable[..., Any]) -> list[str]:
    """Every page of a Describe*FleetInstances call."""
    ids: list[str] = []
    token = ""
    while True:
        page = describe(NextToken=token) if token else describe()
        ids.extend(i["InstanceId"] for i in page.get("ActiveInstances", []) if "InstanceId" in i)
        token = page.get("NextToken", "")
        if not token:
            return ids


def _auto_scaling_instances(autoscaling: AutoScalingClient, name: str) -> list[str] | None:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        return None
    return [i["InstanceId"] for i in groups[0].get("Instances", [])]


def capacity_short(props: DrainProperties, clients: Clients) -> tuple[float, float] | None:
    """(fulfilled, target) while the target has not launched all the capacity it asks for (a new Spot Fleet or EC2
    Fleet fills over minutes; an Auto Scaling group counts its InService instances); None once it has, for instance
    ids, or when the target cannot be read (then its listed instances are all there is to wait for)."""
    kind, target = props.target_kind, props.target
    try:
        if kind == "SpotFleet":
            configs = clients.ec2.describe_spot_fleet_requests(SpotFleetRequestIds=[target[0]])[
                "SpotFleetRequestConfigs"
            ]
            config = configs[0]["SpotFleetRequestConfig"] if configs else None
            have, want = (config.get("FulfilledCapacity", 0.0), config.get("TargetCapacity", 0)) if config else (0, 0)
        elif kind == "Fleet":
            fleets = clients.ec2.describe_fleets(FleetIds=[target[0]])["Fleets"]
            fleet = fleets[0] if fleets else None
            want = fleet.get("TargetCapacitySpecification", {}).get("TotalTargetCapacity", 0) if fleet else 0
            have = fleet.get("FulfilledCapacity", 0.0) if fleet else 0
        elif kind == "AutoScalingGroup":
            groups = clients.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[target[0]])
            group = groups["AutoScalingGroups"][0] if groups["AutoScalingGroups"] else None
            want = group.get("DesiredCapacity", 0) if group else 0
            have = sum(1 for i in group.get("Instances", []) if i.get("LifecycleState") == "InService") if group else 0
        else:
            return None
    except ClientError as error:
        if error_code(error) in _GONE_ERRORS:
            return None
        raise
    return (float(have), float(want)) if have < want else None
