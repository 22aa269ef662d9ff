"""A hook's binding and batches in the watch table, and its calls on the group, on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from mypy_boto3_autoscaling import AutoScalingClient
from mypy_boto3_dynamodb import DynamoDBClient

from ecs_drain.aws import hook_bindings
from ecs_drain.aws.hook_bindings import Binding
from ecs_drain.decisions.hook_rules import LAUNCHING, TERMINATING, Hook
from tests.fakes import create_watch_table

TABLE = "watch"
BINDING = Binding("asg", "drain", {"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain"}, 120)


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    with mock_aws():
        client: DynamoDBClient = boto3.client("dynamodb", region_name="us-east-1")
        create_watch_table(client, TABLE)
        yield client


def test_it_keeps_a_binding_until_its_resource_is_deleted_and_two_hours_after(dynamodb: DynamoDBClient) -> None:
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 1000.0) is None
    hook_bindings.bind(dynamodb, TABLE, BINDING, 1000.0)
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 1000.0) == BINDING
    hook_bindings.end_binding(dynamodb, TABLE, "asg", "drain", 2000.0)
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 2000.0 + 7199) == BINDING
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 2000.0 + 7200) is None
    hook_bindings.end_binding(dynamodb, TABLE, "asg", "other", 2000.0)  # never bound: nothing to let go
    hook_bindings.bind(dynamodb, TABLE, BINDING, 9000.0)  # bound again (a rollback's Update): no end
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 99_999.0) == BINDING


def test_it_keeps_a_launch_hooks_transition_and_reads_a_binding_of_an_earlier_version_as_a_termination_hooks(
    dynamodb: DynamoDBClient,
) -> None:
    launch = Binding(
        "asg", "check", {"Cluster": "web", "AutoScalingGroup": "asg", "LaunchHook": "check"}, 1200, LAUNCHING
    )
    hook_bindings.bind(dynamodb, TABLE, launch, 1000.0)
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "check", 1000.0) == launch
    assert launch.held_state == "Pending:Wait" and BINDING.held_state == "Terminating:Wait"
    assert hook_bindings.properties_for_check(launch) == {"Cluster": "web"}
    hook_bindings.bind(dynamodb, TABLE, BINDING, 1000.0)
    dynamodb.update_item(TableName=TABLE, Key={"key": {"S": "binding#asg#drain"}}, UpdateExpression="REMOVE transition")
    assert hook_bindings.binding_of(dynamodb, TABLE, "asg", "drain", 1000.0) == BINDING


def test_it_gathers_instances_into_one_batch_until_sealed_then_opens_the_next(dynamodb: DynamoDBClient) -> None:
    first = hook_bindings.join_batch(dynamodb, TABLE, BINDING, "i-0a", 1000.0)
    again = hook_bindings.join_batch(dynamodb, TABLE, BINDING, "i-0b", 1003.0)
    same = hook_bindings.join_batch(dynamodb, TABLE, BINDING, "i-0a", 1004.0)  # a copy of the first event
    assert first == again == same == hook_bindings.Batch(1, 1000.0)  # opened by the first; its drain's start
    assert hook_bindings.seal_batch(dynamodb, TABLE, "asg", "drain", 1, 1015.0) == ["i-0a", "i-0b"]
    late = hook_bindings.join_batch(dynamodb, TABLE, BINDING, "i-0c", 1016.0)
    assert late == hook_bindings.Batch(2, 1016.0)
    assert hook_bindings.seal_batch(dynamodb, TABLE, "asg", "drain", 1, 1017.0) == ["i-0a", "i-0b"]  # sealed once
    assert hook_bindings.join_batch(dynamodb, TABLE, BINDING, "i-0d", 1018.0).number == 2  # 2 stays open


def test_it_takes_each_held_instance_once_by_its_event_or_a_read_until_its_action_is_completed(
    dynamodb: DynamoDBClient,
) -> None:
    assert not hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0a", "token-1")
    hook_bindings.take(dynamodb, TABLE, BINDING, "i-0a", "token-1", 1000.0)
    assert hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0a", "token-1")  # a copy of its event
    assert hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0a", None)  # a read finding it held
    hook_bindings.take(dynamodb, TABLE, BINDING, "i-0b", None, 1000.0)  # found by a read first
    assert hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0b", "token-2")  # its late event
    hook_bindings.release(dynamodb, TABLE, "asg", "drain", ["i-0a", "i-0b"])  # completed
    assert not hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0b", "token-3")  # held again later: a new action
    assert hook_bindings.taken(dynamodb, TABLE, BINDING, "i-0a", "token-1")  # an old copy is still known


def test_it_lists_the_bound_hooks_until_forgotten(dynamodb: DynamoDBClient) -> None:
    assert hook_bindings.bound_hooks(dynamodb, TABLE) == []
    hook_bindings.bind(dynamodb, TABLE, BINDING, 1000.0)
    hook_bindings.bind(dynamodb, TABLE, Binding("b#c", "h", {}, 60), 1000.0)  # names with the separator in them
    assert hook_bindings.bound_hooks(dynamodb, TABLE) == [("asg", "drain"), ("b#c", "h")]
    hook_bindings.forget_bound(dynamodb, TABLE, "asg", "drain")
    assert hook_bindings.bound_hooks(dynamodb, TABLE) == [("b#c", "h")]


def test_it_reads_the_hook_as_the_group_has_it_and_none_where_there_is_none() -> None:
    with mock_aws():
        autoscaling: AutoScalingClient = boto3.client("autoscaling", region_name="us-east-1")
        ec2 = boto3.client("ec2", region_name="us-east-1")
        template = ec2.create_launch_template(
            LaunchTemplateName="lt", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="asg",
            LaunchTemplate={"LaunchTemplateId": template},
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=["us-east-1a"],
        )
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName="asg",
            LifecycleHookName="drain",
            LifecycleTransition=TERMINATING,
            HeartbeatTimeout=300,
            DefaultResult="CONTINUE",
        )
        assert hook_bindings.describe_hook(autoscaling, "asg", "drain") == Hook("drain", TERMINATING, 300, "CONTINUE")
        assert hook_bindings.describe_hook(autoscaling, "asg", "other") is None
        assert hook_bindings.describe_hook(autoscaling, "no-such-group", "drain") is None


class Actions:
    """Auto Scaling's lifecycle calls on held instances (moto has none): a ValidationError for any other."""

    def __init__(self, held: set[str], trouble: str = "") -> None:
        self.held, self.trouble, self.calls = held, trouble, list[tuple[str, str]]()

    def _call(self, name: str, instance: str) -> dict[str, object]:
        self.calls.append((name, instance))
        if self.trouble:
            raise ClientError({"Error": {"Code": self.trouble, "Message": "Rate exceeded"}}, name)
        if instance not in self.held:
            raise ClientError({"Error": {"Code": "ValidationError", "Message": "No active Lifecycle Action"}}, name)
        return {}

    def complete_lifecycle_action(self, **call: str) -> dict[str, object]:
        return self._call(f"complete {call['LifecycleActionResult']}", call["InstanceId"])

    def record_lifecycle_action_heartbeat(self, **call: str) -> dict[str, object]:
        return self._call("heartbeat", call["InstanceId"])


def test_it_counts_the_instances_still_held_and_raises_other_trouble() -> None:
    actions = Actions({"i-0a"})
    autoscaling = cast("AutoScalingClient", actions)
    assert hook_bindings.complete(autoscaling, "asg", "drain", ["i-0a", "i-0b"], "ABANDON") == 1
    assert hook_bindings.record_heartbeats(autoscaling, "asg", "drain", ["i-0a", "i-0b"]) == 1  # one gone
    assert actions.calls == [
        ("complete ABANDON", "i-0a"),
        ("complete ABANDON", "i-0b"),
        ("heartbeat", "i-0a"),
        ("heartbeat", "i-0b"),
    ]
    with pytest.raises(ClientError):
        hook_bindings.complete(
            cast("AutoScalingClient", Actions({"i-0a"}, "Throttling")), "asg", "d", ["i-0a"], "CONTINUE"
        )


def test_it_names_the_capacity_providers_on_the_group_whose_managed_draining_is_on() -> None:
    with mock_aws():
        ecs = boto3.client("ecs", region_name="us-east-1")
        ecs.create_cluster(clusterName="web")
        arn = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0:autoScalingGroupName/"
        ecs.create_capacity_provider(name="default-on", autoScalingGroupProvider={"autoScalingGroupArn": arn + "asg"})
        ecs.create_capacity_provider(
            name="off", autoScalingGroupProvider={"autoScalingGroupArn": arn + "asg", "managedDraining": "DISABLED"}
        )
        ecs.create_capacity_provider(name="other", autoScalingGroupProvider={"autoScalingGroupArn": arn + "other"})
        assert hook_bindings.managed_draining(ecs, "web", "asg") == []  # none is the cluster's yet
        ecs.put_cluster_capacity_providers(
            cluster="web", capacityProviders=["default-on", "off", "other"], defaultCapacityProviderStrategy=[]
        )
        assert hook_bindings.managed_draining(ecs, "web", "asg") == ["default-on"]
        assert hook_bindings.managed_draining(ecs, "nowhere", "asg") == []
