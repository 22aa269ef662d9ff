"""What an EC2 instance type offers awsvpc tasks and GPU tasks: ec2:DescribeInstanceTypes, once per type and Lambda
container (the figures do not change).

An instance takes `MaximumNetworkInterfaces - 1` awsvpc tasks: the primary interface counts as one (ECS developer
guide, "Amazon ECS task networking options for EC2"). With ENI trunking (the instance carries the attribute
`ecs.awsvpc-trunk-id`) it takes the figure of ECS's table of supported types instead ("Increasing Amazon ECS Linux
container instance network interfaces"); a trunked type not in the table below is not known, so not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType

DESCRIBE_LIMIT: Final = 100
TRUNK_ATTRIBUTE: Final = "ecs.awsvpc-trunk-id"
# awsvpc tasks per instance with trunking on (ECS's table; the figures of the families most fleets use).
TRUNKED_TASKS: Final = {
    "c5.large": 10,
    "c5.xlarge": 20,
    "c5.2xlarge": 40,
    "c5.4xlarge": 60,
    "m5.large": 10,
    "m5.xlarge": 20,
    "m5.2xlarge": 40,
    "m5.4xlarge": 60,
    "r5.large": 10,
    "r5.xlarge": 20,
    "r5.2xlarge": 40,
    "r5.4xlarge": 60,
}


@dataclass(frozen=True)
class TypeFigures:
    interfaces: int  # MaximumNetworkInterfaces
    gpus: int


_known: dict[str, TypeFigures | None] = {}  # per Lambda container; None: EC2 does not know the type


def figures(ec2: EC2Client, types: set[str]) -> dict[str, TypeFigures | None]:
    """Each type's figures; None for a type EC2 does not describe or that could not be read (not judged)."""
    wanted = sorted(t for t in types if t not in _known)
    for start in range(0, len(wanted), DESCRIBE_LIMIT):
        try:
            _describe(ec2, wanted[start : start + DESCRIBE_LIMIT])
        except (ClientError, BotoCoreError):
            break  # unreadable now: not judged, asked again next time
    return {t: _known.get(t) for t in types}


def _describe(ec2: EC2Client, names: list[str]) -> None:
    try:
        reply = ec2.describe_instance_types(InstanceTypes=cast("list[InstanceTypeType]", names))
    except ClientError as error:
        if error_code(error) != "InvalidInstanceType":
            raise
        if len(names) == 1:  # EC2 does not know it (a type this Region or SDK does not describe)
            _known[names[0]] = None
            return
        for name in names:  # one unknown type fails the whole call: ask for each alone
            _describe(ec2, [name])
        return
    for item in reply.get("InstanceTypes", []):
        gpus = sum(g.get("Count", 0) for g in item.get("GpuInfo", {}).get("Gpus", []))
        interfaces = item.get("NetworkInfo", {}).get("MaximumNetworkInterfaces", 0)
        _known[item["InstanceType"]] = TypeFigures(interfaces, gpus)
    for name in names:
        _known.setdefault(name, None)


def awsvpc_tasks(instance_type: str | None, trunked: bool, known: dict[str, TypeFigures | None]) -> int | None:
    """How many awsvpc tasks an instance of this type takes; None where that is not known."""
    if instance_type is None:
        return None
    if trunked:
        return TRUNKED_TASKS.get(instance_type)
    found = known.get(instance_type)
    return max(0, found.interfaces - 1) if found is not None else None


def forget() -> None:
    """Forget the figures (the emulation starts a fresh AWS for each run)."""
    _known.clear()
