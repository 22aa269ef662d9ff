"""The provider's IAM policies under ClusterNames and ConsumerStackNames: every cluster and stack by default (the
policy as it was), only the named ones in the provider's Region otherwise."""

from __future__ import annotations

import pytest

from tests.iam import ECS_RESOURCES, STACK_READS, allows, ecs_request, policies, stack_request

SCOPED = {"ClusterNames": "web,batch", "ConsumerStackNames": "shop,jobs"}
ECS_ROLES = {"DescribeClusters": "CustomResourceFunction"}


def role_of(action: str) -> str:
    return ECS_ROLES.get(action, "DrainFunction")


@pytest.mark.parametrize("action", sorted(ECS_RESOURCES))
def test_it_lets_the_functions_act_on_every_cluster_by_default(action: str) -> None:
    granted = policies()
    assert allows(granted[role_of(action)], ecs_request(action, "any-cluster"))


@pytest.mark.parametrize("action", sorted(ECS_RESOURCES))
def test_it_lets_the_functions_act_only_on_the_named_clusters_in_its_own_region(action: str) -> None:
    granted = policies(SCOPED)[role_of(action)]
    assert allows(granted, ecs_request(action, "web")) and allows(granted, ecs_request(action, "batch"))
    if action == "DescribeTaskDefinition":  # takes no resource and no cluster: allowed wherever
        return
    assert not allows(granted, ecs_request(action, "other"))
    assert not allows(granted, ecs_request(action, "webapp"))  # a name that only begins like a named one
    assert not allows(granted, ecs_request(action, "web", region="eu-west-1"))


@pytest.mark.parametrize("action", STACK_READS)
def test_it_lets_the_custom_resource_read_only_the_named_stacks(action: str) -> None:
    assert allows(policies()["CustomResourceFunction"], stack_request(action, "any-stack"))
    granted = policies(SCOPED)["CustomResourceFunction"]
    assert allows(granted, stack_request(action, "shop")) and allows(granted, stack_request(action, "jobs"))
    assert not allows(granted, stack_request(action, "payroll"))
    assert not allows(granted, stack_request(action, "shop", region="eu-west-1"))


def test_it_keeps_the_policy_it_had_when_every_cluster_and_stack_is_allowed() -> None:
    drain = {s["Sid"]: s for s in policies()["DrainFunction"]}
    assert drain["DrainContainerInstances"]["Resource"] == "arn:aws:ecs:us-east-1:123456789012:container-instance/*"
    assert drain["InspectAndStopTasks"]["Resource"] == "arn:aws:ecs:us-east-1:123456789012:task/*"
    assert not any("Condition" in s for s in drain.values())
    reads = next(s for s in policies()["CustomResourceFunction"] if s["Sid"] == "ReadRequestingStacks")
    assert reads["Resource"] == "arn:aws:cloudformation:us-east-1:123456789012:stack/*/*"


def test_it_names_each_cluster_in_the_arns_it_allows() -> None:
    drain = {s["Sid"]: s for s in policies(SCOPED)["DrainFunction"]}
    assert drain["DrainContainerInstances"]["Resource"] == [
        "arn:*:ecs:*:*:container-instance/web/*",
        "arn:*:ecs:*:*:container-instance/batch/*",
    ]
    assert drain["DrainContainerInstances"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
