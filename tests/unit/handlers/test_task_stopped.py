"""The task-stopped handler: an ECS Task State Change takes its task off the drain's watch, and the last one wakes the
drain. DynamoDB on moto, in-process; the state machine a fake that records the tokens sent back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from moto import mock_aws

from ecs_drain.aws import watch
from ecs_drain.handlers import task_stopped
from ecs_drain.runtime import environment
from tests.fakes import LambdaContext, create_watch_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_stepfunctions import SFNClient

TABLE = "watch"
TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/web/{}"


class Tokens:
    """Step Functions as far as the wake-up goes: the task tokens sent back; and the watch table the handler uses."""

    def __init__(self, dynamodb: DynamoDBClient) -> None:
        self.dynamodb = dynamodb
        self.sent: list[str] = []

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.sent.append(taskToken)


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tokens]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_watch_table(dynamodb, TABLE)
        sent = Tokens(dynamodb)
        monkeypatch.setenv(environment.WATCH_TABLE, TABLE)
        monkeypatch.setattr(task_stopped, "dynamodb_client", lambda: dynamodb)
        monkeypatch.setattr(task_stopped, "sfn_client", lambda: cast("SFNClient", sent))
        yield sent


def watching(tokens: Tokens, *tasks: str, wake: bool = True) -> None:
    """A drain that watches `tasks` and waits with token "token-1", woken by the last one's STOPPED if `wake`."""
    drain = watch.TaskWatch(tokens.dynamodb, cast("EventBridgeClient", None), TABLE, "rule", "drain-1")
    assert drain.update(list(tasks), [], 0.0)
    watch.wait_for_wake(tokens.dynamodb, cast("SFNClient", tokens), TABLE, "drain-1", "token-1", wake)


def stopped(task: str, last_status: str = "STOPPED") -> bool:
    event: Any = {"detail": {"taskArn": TASK_ARN.format(task), "lastStatus": last_status}}
    return task_stopped.handler(event, LambdaContext())


def test_it_wakes_the_drain_when_its_last_watched_task_stops(tokens: Tokens) -> None:
    watching(tokens, "t1", "t2")
    assert stopped("t1") is False  # t2 still stopping: the drain waits on
    assert tokens.sent == []
    assert stopped("t2") is True
    assert tokens.sent == ["token-1"]


def test_it_changes_nothing_for_a_task_no_drain_watches(tokens: Tokens) -> None:
    watching(tokens, "t1")
    assert stopped("elsewhere") is False
    assert tokens.sent == []
    item = tokens.dynamodb.get_item(TableName=TABLE, Key={"key": {"S": "drain#drain-1"}}).get("Item", {})
    assert item.get("stopping", {}).get("SS") == ["t1"]


def test_it_ignores_an_event_of_a_task_that_has_not_stopped(tokens: Tokens) -> None:
    watching(tokens, "t1")
    assert stopped("t1", last_status="DEACTIVATING") is False
    assert tokens.sent == []
    assert stopped("t1") is True  # the same task's STOPPED still counts


def test_it_does_not_wake_a_drain_that_waits_for_more_than_its_watched_tasks(tokens: Tokens) -> None:
    watching(tokens, "t1", wake=False)  # instances still emptying: the next check comes at the poll
    assert stopped("t1") is False
    assert tokens.sent == []
