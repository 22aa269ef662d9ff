"""One sweep of a cluster's tasks told to stop, shared by the drains of the provider stack that need it at once.

A sweep (census.py) lists every task of the cluster told to stop and describes them: its cost is the cluster's, not
the drain's, so 32 drains of one cluster sweeping each on its own read the same pages 32 times (measured: 32 x 400
targets, 2,726 of about 4,200 reads). Here a drain about to sweep first *claims* the cluster's next sweep in the
watch table (item `sweep#<cluster>`): the claim succeeds only if no sweep was claimed since the drain saw its
instances empty (`seen_at`). Whoever claims sweeps and publishes the tasks found still stopping; a drain whose claim
fails waits for that sweep instead of making its own.

A sweep is used only if it began after the drain saw its instances DRAINING with nothing meant to run: ECS places
nothing new on a DRAINING instance, so every task on them that was told to stop is among those the sweep lists (the
same argument as for a drain's own sweep). Tasks the sweep found STOPPED are left out (they never keep an instance
busy). Trouble with the table, a claimer that never publishes (it crashed, or its step's allowance ran out) or a
sweep too large for one item only means the drain sweeps on its own, as without sharing.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from . import clock
from .errors import error_code
from .observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_VARIABLE = "ECS_DRAIN_WATCH_TABLE"  # the watch table (watch.py) holds the shared sweeps too
ITEM_BYTES_MAX = 350_000  # DynamoDB's item limit is 400 KB: a larger sweep is not shared
POLL_SECONDS = 1.0  # how often a drain waiting for another's sweep looks for it
# A sweep takes at most its step's allowance (30 s by default): a claim this old with nothing published was
# abandoned (its step crashed or timed out), and the next drain claims over it.
ABANDONED_SECONDS = 60.0
KEEP_SECONDS = 3600  # TTL: a sweep is of use for seconds; an hour on, the item is left for TTL to remove
TROUBLE = (ClientError, BotoCoreError)

Homes = dict[str, tuple[str, str]]  # task id -> (its container instance id, its lastStatus)


@dataclass(frozen=True)
class Sweep:
    """What a shared sweep found: the tasks still stopping, or None where it gave up after `pages` pages."""

    started_at: float
    pages: int
    stopping: Homes | None


@dataclass(frozen=True)
class Claimed:
    """This drain makes the cluster's next sweep, begun at `at`, and publishes what it finds."""

    at: float


@dataclass(frozen=True)
class SharedSweeps:
    """The shared sweeps of the provider stack's drains, in its watch table."""

    dynamodb: DynamoDBClient
    table: str

    @classmethod
    def from_environment(cls, dynamodb: DynamoDBClient) -> SharedSweeps | None:
        table = os.environ.get(TABLE_VARIABLE)
        return cls(dynamodb, table) if table else None

    def claim(self, cluster: str, seen_at: float, wait_seconds: float) -> Sweep | Claimed | None:
        """A sweep of `cluster` begun after `seen_at`: one published, or one claimed by another drain and waited
        for (at most `wait_seconds`); else this drain's claim of the next sweep; None where the table cannot help
        (the drain sweeps on its own)."""
        now = clock.now()
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(cluster),
                UpdateExpression="SET claimedAt = :now, expiresAt = :expires",
                ConditionExpression=(
                    "(attribute_not_exists(claimedAt) OR claimedAt < :seen OR claimedAt < :abandoned)"
                    " AND (attribute_not_exists(startedAt) OR startedAt < :seen)"
                ),
                ExpressionAttributeValues={
                    ":now": _number(now),
                    ":seen": _number(seen_at),
                    ":abandoned": _number(now - ABANDONED_SECONDS),
                    ":expires": {"N": str(int(now) + KEEP_SECONDS)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                _trouble("claimed", error)
                return None
            old: Any = error.response.get("Item") or {}
            if (found := _published(old, seen_at)) is not None:
                return found
            claimed_at = float(old.get("claimedAt", {}).get("N", now))
            return self._wait(cluster, seen_at, min(now + wait_seconds, claimed_at + ABANDONED_SECONDS))
        except BotoCoreError as error:
            _trouble("claimed", error)
            return None
        return Claimed(now)

    def publish(self, cluster: str, started_at: float, pages: int, stopping: Homes | None) -> None:
        """What the sweep begun at `started_at` found (never over a later sweep's)."""
        blob = zlib.compress(json.dumps(_rows(stopping)).encode()) if stopping is not None else b""
        if len(blob) > ITEM_BYTES_MAX:  # said as a sweep given up at once: the drains waiting sweep on their own
            logger.info("The sweep is too large to share", extra={"bytes": len(blob)})
            pages, stopping = 0, None
        values: dict[str, Any] = {
            ":started": _number(started_at),
            ":pages": {"N": str(pages)},
            ":expires": {"N": str(int(started_at) + KEEP_SECONDS)},
        }
        update = "SET startedAt = :started, pages = :pages, expiresAt = :expires"
        if stopping is not None:
            update += ", stopping = :stopping"
            values[":stopping"] = {"B": blob}
        else:
            update += " REMOVE stopping"
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(cluster),
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(startedAt) OR startedAt < :started",
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":  # a later sweep is there already
                _trouble("published", error)
        except BotoCoreError as error:
            _trouble("published", error)

    def _wait(self, cluster: str, seen_at: float, until: float) -> Sweep | None:
        """Another drain claimed the sweep after `seen_at`: look for what it publishes until `until`."""
        while clock.now() + POLL_SECONDS <= until:
            clock.sleep(POLL_SECONDS)
            try:
                item = self.dynamodb.get_item(TableName=self.table, Key=_key(cluster), ConsistentRead=True)
            except TROUBLE as error:
                _trouble("read", error)
                return None
            found = _published(item.get("Item") or {}, seen_at)
            if found is not None:
                return found
        return None


def _published(item: dict[str, Any], seen_at: float) -> Sweep | None:
    """The sweep in `item` if it began after `seen_at`."""
    if "startedAt" not in item or Decimal(item["startedAt"]["N"]) < Decimal(str(seen_at)):
        return None
    started, pages = float(item["startedAt"]["N"]), int(item["pages"]["N"])
    if "stopping" not in item:
        return Sweep(started, pages, None)
    rows = json.loads(zlib.decompress(bytes(item["stopping"]["B"])))
    return Sweep(started, pages, {task: (instance, status) for task, instance, status in rows})


def _rows(stopping: Homes | None) -> list[list[str]]:
    return [[task, instance, status] for task, (instance, status) in sorted((stopping or {}).items())]


def _trouble(what: str, error: Exception) -> None:
    logger.warning("The shared sweep could not be %s: the drain sweeps on its own", what, extra={"error": repr(error)})


def _key(cluster: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": f"sweep#{cluster}"}}


def _number(value: float) -> dict[str, str]:
    return {"N": str(round(value, 6))}
