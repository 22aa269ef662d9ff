"""One sweep of a cluster's tasks told to stop, shared by the drains of the provider stack that need it at once.

A sweep (census.py) lists every task of the cluster told to stop and describes them: its cost is the cluster's, not
the drain's, so 32 drains of one cluster sweeping each on its own read the same pages 32 times (measured: 32 x 400
targets, 2,726 of about 4,200 reads). Here a drain about to sweep first *claims* the cluster's next sweep in the
watch table (item `sweep#<cluster>`): the claim succeeds only if no sweep begun since the drain saw its instances
empty (`seen_at`) was published, and no other sweep is under way. Whoever claims sweeps and publishes the tasks
found still stopping. A drain whose claim fails reads the sweep published, or waits for the one under way to end
and claims the next: one sweep at a time, since sweeps made at once share the read budget and each takes as long
as all of them (measured: 26 of 32 drains sweeping at once took up to 224 s each). Where its step cannot wait that
long, its instances wait for a later check.

A sweep is used only if it began after the drain saw its instances DRAINING with nothing meant to run: ECS places
nothing new on a DRAINING instance, so every task on them that was told to stop is among those the sweep lists (the
same argument as for a drain's own sweep). Tasks the sweep found STOPPED are left out (they never keep an instance
busy). A sweep given up (too long for its claimer's allowance) is claimed again, with its length known. Trouble
with the table or a sweep too large for one item only means the drain sweeps on its own, as without sharing; a
claimer that never publishes (it crashed, or its step timed out) is claimed over once its claim is old.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..runtime import clock
from ..runtime.environment import Environment
from ..runtime.observability import logger
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ITEM_BYTES_MAX = 350_000  # DynamoDB's item limit is 400 KB: a larger sweep is not shared
POLL_SECONDS = 1.0  # how often a drain waiting for another's sweep to end tries its claim again
# A shared sweep serves every drain of the cluster, and they wait for it rather than read: its claimer may spend this
# long on it, past its step's own allowance (30 s by default), well inside the DrainFunction's 300 s timeout. At the
# contended pace of 32 drains, no step's own allowance afforded a sweep of 12,800 targets' tasks (measured).
SHARED_SWEEP_SECONDS = 120.0
# A claim this old with nothing published was abandoned (its step crashed or timed out): the next drain claims over.
ABANDONED_SECONDS = SHARED_SWEEP_SECONDS + 60.0
KEEP_SECONDS = 3600  # TTL: a sweep is of use for seconds; an hour on, the item is left for TTL to remove

Homes = dict[str, tuple[str, str]]  # task id -> (its container instance id, its lastStatus)


@dataclass(frozen=True)
class Sweep:
    """What a shared sweep found: the tasks still stopping."""

    started_at: float
    pages: int
    stopping: Homes


@dataclass(frozen=True)
class Claimed:
    """This drain makes the cluster's next sweep, begun at `at`, and publishes what it finds. A sweep begun since
    the drain saw its instances may have given up: this one then takes at least `pages_at_least` pages."""

    at: float
    pages_at_least: int = 0


@dataclass(frozen=True)
class Later:
    """Another drain's sweep is under way and this drain's step cannot wait for it to end: its instances are
    listed at a later check (by that sweep, where it began after they were seen, or by the next)."""


@dataclass(frozen=True)
class SharedSweeps:
    """The shared sweeps of the provider stack's drains, in its watch table."""

    dynamodb: DynamoDBClient
    table: str

    @classmethod
    def from_environment(cls, dynamodb: DynamoDBClient) -> SharedSweeps | None:
        table = Environment.read().watch_table  # the watch table (watch.py) holds the shared sweeps too
        return cls(dynamodb, table) if table else None

    def claim(self, cluster: str, seen_at: float, wait_seconds: float) -> Sweep | Claimed | Later | None:
        """A sweep of `cluster` begun after `seen_at`, published; else this drain's claim of the next sweep, once
        no other is under way (waiting at most `wait_seconds` for it to end, else Later); None where the table
        cannot help (the drain sweeps on its own)."""
        until = clock.now() + wait_seconds
        while True:
            now = clock.now()
            try:
                old = self._claim(cluster, seen_at, now)
                return Claimed(now, _given_up(old, seen_at))
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    _trouble("claimed", error)
                    return None
                item: Any = error.response.get("Item") or {}
            except BotoCoreError as error:
                _trouble("claimed", error)
                return None
            if (found := _published(item, seen_at)) is not None:
                return found
            if _too_large(item, seen_at):
                return None
            # Another drain's sweep is under way: one at a time, or every drain's sweep slows every other's.
            if clock.now() + POLL_SECONDS > until:
                return Later()
            clock.sleep(POLL_SECONDS)

    def _claim(self, cluster: str, seen_at: float, now: float) -> dict[str, Any]:
        """Claim the cluster's next sweep where none is under way (none claimed since the last one published, or
        the claim abandoned) and none begun after `seen_at` serves (published, not given up): the item before."""
        result = self.dynamodb.update_item(
            TableName=self.table,
            Key=_key(cluster),
            UpdateExpression="SET claimedAt = :now, expiresAt = :expires",
            ConditionExpression=(
                "(attribute_not_exists(claimedAt) OR claimedAt <= startedAt OR claimedAt < :abandoned)"
                " AND (attribute_not_exists(startedAt) OR startedAt < :seen"
                " OR (attribute_not_exists(stopping) AND attribute_not_exists(tooLarge)))"
            ),
            ExpressionAttributeValues={
                ":now": _number(now),
                ":seen": _number(seen_at),
                ":abandoned": _number(now - ABANDONED_SECONDS),
                ":expires": {"N": str(int(now) + KEEP_SECONDS)},
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return dict(result.get("Attributes") or {})

    def publish(self, cluster: str, started_at: float, pages: int, stopping: Homes | None) -> None:
        """What the sweep begun at `started_at` found, or None where it gave up after `pages` pages (never over a
        later sweep's)."""
        blob = zlib.compress(json.dumps(_rows(stopping)).encode()) if stopping is not None else b""
        values: dict[str, Any] = {
            ":started": _number(started_at),
            ":pages": {"N": str(pages)},
            ":expires": {"N": str(int(started_at) + KEEP_SECONDS)},
        }
        update = "SET startedAt = :started, pages = :pages, expiresAt = :expires"
        if len(blob) > ITEM_BYTES_MAX:  # the drains that need it sweep on their own, at once
            logger.info("The sweep is too large to share", extra={"bytes": len(blob)})
            update += ", tooLarge = :yes REMOVE stopping"
            values[":yes"] = {"BOOL": True}
        elif stopping is not None:
            update += ", stopping = :stopping REMOVE tooLarge"
            values[":stopping"] = {"B": blob}
        else:
            update += " REMOVE stopping, tooLarge"
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


def _began_after(item: dict[str, Any], seen_at: float) -> bool:
    return "startedAt" in item and Decimal(item["startedAt"]["N"]) >= Decimal(str(seen_at))


def _published(item: dict[str, Any], seen_at: float) -> Sweep | None:
    """The sweep in `item` if it began after `seen_at` and was not given up."""
    if not _began_after(item, seen_at) or "stopping" not in item:
        return None
    rows = json.loads(zlib.decompress(bytes(item["stopping"]["B"])))
    homes = {task: (instance, status) for task, instance, status in rows}
    return Sweep(float(item["startedAt"]["N"]), int(item["pages"]["N"]), homes)


def _given_up(item: dict[str, Any], seen_at: float) -> int:
    """The pages a sweep takes at least, where one begun after `seen_at` gave up (else 0)."""
    if not _began_after(item, seen_at) or "stopping" in item or "tooLarge" in item:
        return 0
    return int(item["pages"]["N"]) + 1


def _too_large(item: dict[str, Any], seen_at: float) -> bool:
    return _began_after(item, seen_at) and "tooLarge" in item


def _rows(stopping: Homes | None) -> list[list[str]]:
    return [[task, instance, status] for task, (instance, status) in sorted((stopping or {}).items())]


def _trouble(what: str, error: Exception) -> None:
    logger.warning("The shared sweep could not be %s: the drain sweeps on its own", what, extra={"error": repr(error)})


def _key(cluster: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": f"sweep#{cluster}"}}


def _number(value: float) -> dict[str, str]:
    return {"N": str(round(value, 6))}
