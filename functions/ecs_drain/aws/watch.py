"""The watch ECS events report to: which watched tasks of a drain are not yet reported STOPPED, and its wake-up.

An EventBridge rule (`TaskStoppedRule`, switched on while drains watch tasks) sends each ECS Task State Change with
lastStatus STOPPED to the TaskStoppedFunction. In the watch table, one item per drain holds its watched tasks not
reported yet (`stopping`, a string set) and, while the state machine waits, its task token; one item per watched
task names its drain. The event removes the task from its drain's set; when the set is empty and the drain waits
for nothing else, the token is sent back and the next check starts at once.

Events only ever speed a drain up (docs/how-it-works.md, "The answer when the last task stops"): STOPPED is a
task's last status, so a reported task is STOPPED whatever the order or the copies of its events; a task whose
event is late or never comes is read by the drain at its reconcile cadence; and any trouble here (a throttled
table, a rule that cannot be switched on) leaves the drain on its reads, never early, never failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..runtime import clock
from ..runtime.environment import Environment
from ..runtime.observability import logger
from .ecs_calls import chunks
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestUnionTypeDef
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_stepfunctions import SFNClient

BATCH_WRITE_LIMIT = 25  # BatchWriteItem's maximum
# Items are kept two days past the update that last added tasks to them (a watched task stops within minutes,
# however long its drain lasts); TTL removes them.
KEEP_SECONDS = 2 * 24 * 3600
# A token already used, or its task ended (a timeout): nothing to wake.
GONE_TOKEN_CODES = {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}
TROUBLE = (ClientError, BotoCoreError)


class WatchUnwritten(Exception):
    """BatchWriteItem kept leaving items unprocessed (the table throttled)."""


@dataclass(frozen=True)
class TaskWatch:
    """One drain's watch (`drain`: its execution's name) in the table, and the rule that feeds it."""

    dynamodb: DynamoDBClient
    events: EventBridgeClient
    table: str
    rule: str
    drain: str

    @classmethod
    def from_environment(
        cls, dynamodb: DynamoDBClient, events: EventBridgeClient, drain: str | None
    ) -> TaskWatch | None:
        """None where the provider has no watch (deployed from an older template) or the step names no execution."""
        env = Environment.read()
        table, rule = env.watch_table, env.task_stopped_rule
        if not table or not rule or not drain:
            return None
        return cls(dynamodb, events, table, rule, drain)

    def switch_on(self) -> bool:
        """Switch the rule on (it may have been switched off by the last drain to end); False where it cannot be."""
        try:
            self.events.enable_rule(Name=self.rule)
        except TROUBLE as error:
            logger.warning("The task-stopped rule could not be switched on", extra={"error": repr(error)})
            return False
        return True

    def not_reported(self) -> set[str] | None:
        """The drain's watched tasks no event reported STOPPED yet; None where the watch cannot be read."""
        try:
            item = self.dynamodb.get_item(
                TableName=self.table, Key=_key(_drain_key(self.drain)), ConsistentRead=True
            ).get("Item", {})
        except TROUBLE as error:
            logger.warning("The watch could not be read", extra={"error": repr(error)})
            return None
        return set(item.get("stopping", {}).get("SS", []))

    def update(self, added: Sequence[str], removed: Iterable[str], now: float) -> bool:
        """Watch the tasks `added` (each named to this drain first, so that its event finds it), forget `removed`
        (STOPPED, read by the drain). False where the table refused: the drain then reads every check."""
        expires = {"N": str(int(now) + KEEP_SECONDS)}
        key = _key(_drain_key(self.drain))
        gone = sorted(removed)
        try:
            for chunk in chunks(list(added), BATCH_WRITE_LIMIT):
                puts: list[WriteRequestUnionTypeDef] = [
                    {"PutRequest": {"Item": {**_key(_task_key(t)), "drain": {"S": self.drain}, "expiresAt": expires}}}
                    for t in chunk
                ]
                self._write_all({self.table: puts})
            if added:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="ADD stopping :tasks SET expiresAt = :expires",
                    ExpressionAttributeValues={":tasks": {"SS": list(added)}, ":expires": expires},
                )
            if gone:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="DELETE stopping :tasks",
                    ExpressionAttributeValues={":tasks": {"SS": gone}},
                )
        except (*TROUBLE, WatchUnwritten) as error:
            logger.warning("The watch could not be updated", extra={"error": repr(error)})
            return False
        return True

    def _write_all(self, requests: Mapping[str, Sequence[WriteRequestUnionTypeDef]]) -> None:
        """BatchWriteItem, again for what DynamoDB left unprocessed (a few tries, backing off)."""
        for attempt in range(5):
            left = self.dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
            if not left:
                return
            requests = left
            clock.sleep(0.05 * 2**attempt)
        raise WatchUnwritten("DynamoDB left watch items unwritten after 5 tries")


def _key(value: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": value}}


def _drain_key(drain: str) -> str:
    return f"drain#{drain}"


def _task_key(task_id: str) -> str:
    return f"task#{task_id}"


def wait_for_wake(dynamodb: DynamoDBClient, sfn: SFNClient, table: str, drain: str, token: str, wake: bool) -> bool:
    """The state machine waits: keep its token where the last event finds it. If the last watched task was
    reported before (between the check and now), send it back at once. True where it was sent."""
    try:
        item = dynamodb.update_item(
            TableName=table,
            Key=_key(_drain_key(drain)),
            UpdateExpression="SET #token = :token, wake = :wake",
            ConditionExpression="attribute_exists(#key)",
            ExpressionAttributeNames={"#token": "token", "#key": "key"},
            ExpressionAttributeValues={":token": {"S": token}, ":wake": {"BOOL": wake}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except TROUBLE as error:
        if not isinstance(error, ClientError) or error_code(error) != "ConditionalCheckFailedException":
            logger.warning("The wake-up could not be kept", extra={"error": repr(error)})
        return False  # no watch, or trouble: the wait lasts the poll interval
    return wake and not item.get("stopping") and _send(sfn, token)


def task_stopped(dynamodb: DynamoDBClient, sfn: SFNClient, table: str, task_id: str) -> bool:
    """An event reported the task STOPPED: take it off its drain's watch, and wake the drain if it was the last
    one it waited for. True where a drain was woken."""
    named = dynamodb.get_item(TableName=table, Key=_key(_task_key(task_id))).get("Item")
    if not named:
        return False  # not a watched task (most of an account's tasks), or its drain is over
    try:
        item = dynamodb.update_item(
            TableName=table,
            Key=_key(_drain_key(named["drain"]["S"])),
            UpdateExpression="DELETE stopping :task",
            ConditionExpression="attribute_exists(#key)",
            ExpressionAttributeNames={"#key": "key"},
            ExpressionAttributeValues={":task": {"SS": [task_id]}},
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ClientError as error:
        if error_code(error) == "ConditionalCheckFailedException":
            return False  # the drain's watch is gone
        raise
    token = item.get("token", {}).get("S")
    if item.get("stopping") or not item.get("wake", {}).get("BOOL") or not token:
        return False
    return _send(sfn, token)


def _send(sfn: SFNClient, token: str) -> bool:
    try:
        sfn.send_task_success(taskToken=token, output="{}")
    except ClientError as error:
        if error_code(error) in GONE_TOKEN_CODES:
            return False  # woken already, or its wait timed out: the check runs anyway
        raise
    return True


def switch_off_when_idle(events: EventBridgeClient, sfn: SFNClient, rule: str, state_machine: str, own: str) -> bool:
    """At a drain's end: switch the rule off if no other drain runs (the account's task churn then invokes
    nothing). A drain starting meanwhile switches it on again at its next check. True where switched off."""
    running = sfn.list_executions(stateMachineArn=state_machine, statusFilter="RUNNING", maxResults=2)
    if any(e["name"] != own for e in running.get("executions", [])):
        return False
    events.disable_rule(Name=rule)
    return True
