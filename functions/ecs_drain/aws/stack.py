"""What the stack behind a request says of it: the stack's status, and whether a drain's target stays in it.

A CloudFormation request carries no field saying which phase sent it (platform-facts: "CloudFormation: where a
stack update can still be undone"), so the custom resource reads the stack (DescribeStacks, ListStackResources,
GetTemplate). Anything that cannot be read, or read for sure, answers "unknown", and the caller keeps the safe
path: drain, and check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml
from botocore.exceptions import BotoCoreError, ClientError

from ..runtime.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

# The one phase in which a Delete can be for a resource removed from the template while what it drains stays: the
# cleanup of an update. (In a stack deletion every resource goes, the target included.)
UPDATE_CLEANUP = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
ROLLING_BACK = ("UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")


def status(cfn: CloudFormationClient, stack_id: str) -> str | None:
    """The stack's status, or None when it cannot be read."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_id)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        logger.warning("Could not read the stack's status", extra={"error": str(error)})
        return None
    return stacks[0]["StackStatus"] if stacks else None


def is_rolling_back(cfn: CloudFormationClient, stack_id: str) -> bool:
    """True when the stack is known to be rolling an update back (the Update it sends then is the reverse one)."""
    return status(cfn, stack_id) in ROLLING_BACK


def target_stays(cfn: CloudFormationClient, stack_id: str, target_id: str) -> bool:
    """True only when it is sure: the stack is cleaning up after an update, the target is one of its current
    resources (by physical id), and that resource is in the stack's template now (one this same update removed is
    not, and is deleted after this Delete)."""
    if status(cfn, stack_id) != UPDATE_CLEANUP:
        return False
    try:
        logical_ids = [
            r["LogicalResourceId"]
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_id)
            for r in page.get("StackResourceSummaries", [])
            if r.get("PhysicalResourceId") == target_id and not r.get("ResourceStatus", "").startswith("DELETE")
        ]
        if not logical_ids:
            return False
        body = cfn.get_template(StackName=stack_id, TemplateStage="Processed")["TemplateBody"]
    except (ClientError, BotoCoreError) as error:
        logger.warning("Could not read the stack's resources", extra={"error": str(error)})
        return False
    resources = _resources(body)
    return resources is not None and all(logical in resources for logical in logical_ids)


class _AnyTagLoader(yaml.SafeLoader):
    """YAML templates use short-form intrinsic functions (!Ref, !Sub...): read them as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_AnyTagLoader.add_multi_constructor("!", _any_tag)


def _resources(body: object) -> Mapping[str, Any] | None:
    """The template's Resources (boto3 gives a JSON template as a dict, a YAML one as text), or None if unreadable."""
    template: object = body
    if isinstance(body, str):
        try:
            template = json.loads(body)
        except ValueError:
            try:
                template = yaml.load(body, Loader=_AnyTagLoader)  # noqa: S506 (a SafeLoader)
            except yaml.YAMLError:
                return None
    resources = template.get("Resources") if isinstance(template, Mapping) else None
    return resources if isinstance(resources, Mapping) else None
