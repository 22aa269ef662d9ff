"""The watch ECS events report to: trouble with it only ever means the drain reads instead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from ecs_drain.aws import watch

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient


class ThrottledTable:
    """A DynamoDB table that takes no write: every batch comes back unprocessed, every read is throttled."""

    def __init__(self) -> None:
        self.batches = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batches += 1
        return {"UnprocessedItems": RequestItems}

    def get_item(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException"}}, "GetItem")


class Rule:
    def enable_rule(self, Name: str) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "EnableRule")


def a_watch(table: ThrottledTable) -> watch.TaskWatch:
    return watch.TaskWatch(cast("DynamoDBClient", table), cast("EventBridgeClient", Rule()), "t", "r", "drain-1")


def test_it_says_the_watch_was_not_kept_when_the_table_leaves_items_unwritten(sim_time: list[float]) -> None:
    table = ThrottledTable()
    assert a_watch(table).update(["t1"], [], 0.0) is False  # the drain then reads every check
    assert table.batches == 5  # tried again, backing off, then given up
    assert sim_time[0] == pytest.approx(1000 + 0.05 * (1 + 2 + 4 + 8 + 16))


def test_it_reads_nothing_reported_where_the_watch_or_the_rule_is_out_of_reach() -> None:
    assert a_watch(ThrottledTable()).not_reported() is None
    assert a_watch(ThrottledTable()).switch_on() is False
