"""What a service's load balancer makes each of its stopping tasks wait: its target groups' deregistration delay.

Read with DescribeTargetGroupAttributes (one target group a call). A delay that cannot be read leaves the estimate
unknown rather than guessed short.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..runtime.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

DELAY_ATTRIBUTE = "deregistration_delay.timeout_seconds"
DEFAULT_DELAY_SECONDS = 300  # Elastic Load Balancing's default, where the attribute is not listed


def deregistration_delays(elbv2: ElasticLoadBalancingv2Client, arns: Iterable[str]) -> dict[str, int] | None:
    """Target group ARN -> its deregistration delay in seconds; None when any of them cannot be read."""
    delays: dict[str, int] = {}
    for arn in sorted(set(arns)):
        try:
            attributes = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        except (ClientError, BotoCoreError) as error:
            logger.warning("Could not read a target group's deregistration delay", extra={"error": str(error)})
            return None
        given = {a.get("Key"): a.get("Value") for a in attributes}
        value = given.get(DELAY_ATTRIBUTE)
        delays[arn] = int(value) if value is not None and value.isdigit() else DEFAULT_DELAY_SECONDS
    return delays
