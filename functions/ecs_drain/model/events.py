"""The events the handlers receive from outside, as AWS sends them (the drain steps' own events are in state.py).

TypedDicts, not classes: the handlers check what they read (CloudFormation's request is answered FAILED with a clear
Reason when it lacks a field), and crhelper takes the request as the dict it is.
"""

from __future__ import annotations

from typing import Any, TypedDict


class CustomResourceRequest(TypedDict, total=False):
    """A Custom::ECSDrain request (CloudFormation User Guide, "Custom resource request objects")."""

    RequestType: str  # Create | Update | Delete
    ResponseURL: str
    StackId: str
    RequestId: str
    ResourceType: str
    LogicalResourceId: str
    PhysicalResourceId: str  # Update and Delete
    ResourceProperties: dict[str, Any]
    OldResourceProperties: dict[str, Any]  # Update
    ServiceToken: str


class ExecutionStatusChange(TypedDict, total=False):
    """The `detail` of EventBridge's "Step Functions Execution Status Change" event."""

    executionArn: str
    stateMachineArn: str
    name: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    input: str | None  # the execution's input, as a JSON string
    output: str | None


class ExecutionEnded(TypedDict, total=False):
    """The EventBridge event the answering function gets when an execution ends without it."""

    source: str
    detail: ExecutionStatusChange


class TaskStateChangeDetail(TypedDict, total=False):
    """The `detail` of ECS's "ECS Task State Change" event: close to the task DescribeTasks returns (ECS Developer
    Guide, "Amazon ECS task state change events")."""

    clusterArn: str
    containerInstanceArn: str
    taskArn: str
    group: str
    lastStatus: str
    desiredStatus: str
    version: int  # goes up by one at each change: copies of one event share it
    stoppedAt: str


class TaskStateChange(TypedDict, total=False):
    """What the TaskStoppedRule delivers: source aws.ecs, detail-type "ECS Task State Change"."""

    source: str
    detail: TaskStateChangeDetail


class LifecycleActionDetail(TypedDict, total=False):
    """The `detail` of Auto Scaling's "EC2 Instance-terminate Lifecycle Action" event (Amazon EC2 Auto Scaling User
    Guide, "Amazon EC2 Auto Scaling event reference")."""

    LifecycleActionToken: str
    AutoScalingGroupName: str
    LifecycleHookName: str
    EC2InstanceId: str
    LifecycleTransition: str  # autoscaling:EC2_INSTANCE_TERMINATING
    Origin: str  # AutoScalingGroup | WarmPool
    Destination: str  # EC2 | WarmPool
    Action: str  # ReplaceRootVolume: an instance refresh replaces the root volume, and the instance comes back


class LifecycleAction(TypedDict, total=False):
    """What the LifecycleHookRule delivers: source aws.autoscaling."""

    source: str
    time: str
    detail: LifecycleActionDetail
