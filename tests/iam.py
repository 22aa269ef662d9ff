"""The template's IAM policies, resolved for given parameters, and judged as IAM judges an identity policy's Allow:
the action named, a Resource pattern matching the ARN the call is authorized against, every condition holding.

What each call is authorized against is the Service Authorization Reference's resource type for its action
(ECS: container-instance/<cluster>/<id>, task/<cluster>/<id>, service/<cluster>/<name>, cluster/<cluster>; ListServices
and DescribeTaskDefinition: no resource, ListServices with the condition key ecs:cluster; CloudFormation's stack reads:
stack/<name>/<id>)."""

from __future__ import annotations

from collections import defaultdict
from fnmatch import fnmatchcase
from typing import Any

from emulation import template as cfn

REGION, ACCOUNT = "us-east-1", "123456789012"
ECS_RESOURCES = {
    "DescribeClusters": "cluster/{cluster}",
    "ListContainerInstances": "cluster/{cluster}",
    "DescribeContainerInstances": "container-instance/{cluster}/0f1e2d3c4b5a",
    "UpdateContainerInstancesState": "container-instance/{cluster}/0f1e2d3c4b5a",
    "ListTasks": "container-instance/{cluster}/0f1e2d3c4b5a",
    "DescribeTasks": "task/{cluster}/5a4b3c2d1e0f",
    "StopTask": "task/{cluster}/5a4b3c2d1e0f",
    "DescribeServices": "service/{cluster}/web",
    "ListServices": "",
    "DescribeTaskDefinition": "",
}
STACK_READS = ("DescribeStacks", "ListStackResources", "GetTemplate")


def policies(parameters: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each role's statements (the state machine's as `states`), resolved for these parameter values."""
    template = cfn.load()
    stack = cfn.Stack.deployed(template, parameters or {}, "ecs-drain", REGION, ACCOUNT)
    # The stack's own resources stand for themselves: only the policies' ECS and CloudFormation ARNs are judged.
    stack.refs |= {logical_id: f"<{logical_id}>" for logical_id in template["Resources"]}
    stack.attributes = defaultdict(lambda: "<attribute>")
    roles: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for logical_id, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            if isinstance(policy, dict) and "Statement" in policy:
                roles[logical_id] += stack.resolve(policy["Statement"])
    return roles


def ecs_request(action: str, cluster: str, region: str = REGION) -> tuple[str, str, dict[str, str]]:
    """An ECS call on `cluster` as IAM authorizes it: the action, the resource's ARN ("*" where none), the context."""
    path = ECS_RESOURCES[action].format(cluster=cluster)
    arn = f"arn:aws:ecs:{region}:{ACCOUNT}:{path}" if path else "*"
    context = {"aws:RequestedRegion": region, "ecs:cluster": f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{cluster}"}
    return f"ecs:{action}", arn, context


def stack_request(action: str, stack: str, region: str = REGION) -> tuple[str, str, dict[str, str]]:
    arn = f"arn:aws:cloudformation:{region}:{ACCOUNT}:stack/{stack}/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    return f"cloudformation:{action}", arn, {"aws:RequestedRegion": region}


def allows(statements: list[dict[str, Any]], request: tuple[str, str, dict[str, str]]) -> bool:
    action, arn, context = request
    return any(_allows(s, action, arn, context) for s in statements)


def _allows(statement: dict[str, Any], action: str, arn: str, context: dict[str, str]) -> bool:
    actions = _listed(statement["Action"])
    if statement["Effect"] != "Allow" or action not in actions:
        return False
    if not any(pattern == "*" or fnmatchcase(arn, pattern) for pattern in _listed(statement["Resource"])):
        return False
    return all(_holds(op, key, _listed(values), context) for op, keys in statement.get("Condition", {}).items()
               for key, values in keys.items())  # fmt: skip


def _holds(operator: str, key: str, values: list[str], context: dict[str, str]) -> bool:
    if key not in context:
        return False
    if operator == "StringEquals":
        return context[key] in values
    if operator in ("ArnLike", "StringLike"):
        return any(fnmatchcase(context[key], v) for v in values)
    raise AssertionError(f"a condition operator this judge does not know: {operator}")


def _listed(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
