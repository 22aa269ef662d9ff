"""The provider's share of the account's ECS API budget, enforced where every ECS call is made.

ECS throttles per account and Region with token buckets every caller shares: cluster reads 100 refilled at 20 per
second, modify calls 100 at 40/s, service reads 100 at 20/s (ECS API Reference, "Request throttling"). Every drain
of the provider stack together takes at most its share of the refill: by default 10 reads and 20 modify calls per
second, spread evenly over time (never a burst), so the account's other tools keep at least half.

The share is one schedule for every drain: each ECS call first takes the next free slot of its category from a
DynamoDB item (see SharedSlots), so any number of drains interleave call by call (a run of calls a step makes one
after another, two seconds of it at a time), first come first served, and none waits for another's whole step.
The pacing is a botocore `before-call` hook on the ECS client: no call can bypass it. A step also has a time
allowance; work that does not fit (per-instance listings) waits for the next check instead of bursting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ..runtime import clock
from ..runtime.environment import Environment
from .errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient

READ = "read"
MODIFY = "modify"
SERVICE_READ = "service-read"
CATEGORY = {
    "ListContainerInstances": READ,
    "DescribeContainerInstances": READ,
    "ListTasks": READ,
    "DescribeTasks": READ,
    "UpdateContainerInstancesState": MODIFY,
    "StopTask": MODIFY,
    "ListServices": SERVICE_READ,
    "DescribeServices": SERVICE_READ,
    # Not in the three documented categories; paced with the service reads to be safe.
    "DescribeTaskDefinition": SERVICE_READ,
}
DEFAULT_READS_PER_SECOND = 10.0
DEFAULT_MODIFY_CALLS_PER_SECOND = 20.0
DRAIN_STEP_TIMEOUT_SECONDS = 300  # the DrainFunction's Timeout and its tasks' TimeoutSeconds (a test holds them)
DEFAULT_STEP_SECONDS = DRAIN_STEP_TIMEOUT_SECONDS / 10  # optional work stops here, far from the timeout
# Spacing a hair over 1/rate keeps "at most N in any second" true under floating-point clocks.
SPACING_MARGIN = 1.001
# How far ahead a call may book its slot. Each waiting call holds one slot, so the queue is as long as the calls
# waiting at once (a slot each); past this many seconds of queue a caller waits and asks again.
HORIZON_SECONDS = 10.0
# A run of calls (reserve) books this much of the schedule at a time: other drains' calls come in between.
RUN_SECONDS = 2.0
MAX_TRIES = 100  # conditional updates lost to other drains before a call gives up (BudgetUnavailable)
BOOKING_LEAD_SECONDS = 0.05  # a booking's round trip to DynamoDB (milliseconds in a Region) fits in this


class BudgetUnavailable(Exception):
    """No slot could be had from the shared schedule (the table throttled, unreachable, or endlessly contended).
    No ECS call is made without a slot: the step fails and the state machine tries it again."""


class Slots(Protocol):
    def take(self, category: str, interval: float, calls: int = 1) -> float:
        """Book the caller's next `calls` calls of `category`, `interval` apart: the time the first may be made
        (now or later)."""
        ...


@dataclass
class LocalSlots:
    """The schedule of one process (unit tests, a drain run outside the provider stack)."""

    next_free: dict[str, float] = field(default_factory=dict)

    def take(self, category: str, interval: float, calls: int = 1) -> float:
        slot = max(clock.now(), self.next_free.get(category, 0.0))
        self.next_free[category] = slot + interval * calls
        return slot


@dataclass
class SharedSlots:
    """One schedule for every drain of the provider stack: per category, a DynamoDB item holds the time of the next
    free slot (`next`), and a call books it with one conditional UpdateItem.

    While the schedule is busy (`next` from the soonest slot, a booking's round trip from now, to the horizon),
    `SET next = next + interval` books the slot at `next` (a run of calls books `interval` times their number at
    once): arithmetic in the update, so concurrent callers never conflict. While it is idle (`next` before the
    soonest slot, or no item yet), `SET next = soonest + interval` on the condition that it is still idle books the
    soonest slot. A crashed step leaves at most the slots it booked unused; there is nothing to clean up. Times are
    the callers' clocks (Lambda's are synchronised; a skew of milliseconds shifts a slot by as much).
    """

    dynamodb: DynamoDBClient
    table: str

    def take(self, category: str, interval: float, calls: int = 1) -> float:
        step = Decimal(str(round(interval * calls, 6)))
        for _ in range(MAX_TRIES):
            # The soonest slot leaves time for this booking's own round trip, so the call goes at its slot (a call
            # sent late would bunch with the next one).
            soonest = _soonest()
            try:
                return self._book_busy(category, step, soonest)
            except ClientError as error:
                old = self._refused(error)
            busy_until = Decimal(old["next"]["N"]) if "next" in old else None
            if busy_until is not None and busy_until > soonest + Decimal(str(HORIZON_SECONDS)):
                clock.sleep(float(busy_until - soonest) - HORIZON_SECONDS + interval)  # the queue is full: wait
                continue
            if busy_until is None or busy_until < soonest:
                try:  # a second round trip: the soonest slot is counted from now again
                    return self._book_idle(category, step, _soonest())
                except ClientError as error:
                    self._refused(error)  # another caller booked it first: book behind it
        raise BudgetUnavailable(f"no {category} slot after {MAX_TRIES} tries: the schedule is contended")

    def _book_busy(self, category: str, step: Decimal, soonest: Decimal) -> float:
        try:
            result = self.dynamodb.update_item(
                TableName=self.table,
                Key={"category": {"S": category}},
                UpdateExpression="SET #next = #next + :step",
                ConditionExpression="#next BETWEEN :soonest AND :horizon",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={
                    ":step": {"N": str(step)},
                    ":soonest": {"N": str(soonest)},
                    ":horizon": {"N": str(soonest + Decimal(str(HORIZON_SECONDS)))},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except BotoCoreError as error:
            raise BudgetUnavailable(f"the call budget table cannot be reached: {error}") from error
        return float(Decimal(result["Attributes"]["next"]["N"]) - step)

    def _book_idle(self, category: str, step: Decimal, soonest: Decimal) -> float:
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"category": {"S": category}},
                UpdateExpression="SET #next = :next",
                ConditionExpression="attribute_not_exists(#next) OR #next < :soonest",
                ExpressionAttributeNames={"#next": "next"},
                ExpressionAttributeValues={":next": {"N": str(soonest + step)}, ":soonest": {"N": str(soonest)}},
            )
        except BotoCoreError as error:
            raise BudgetUnavailable(f"the call budget table cannot be reached: {error}") from error
        return float(soonest)

    @staticmethod
    def _refused(error: ClientError) -> dict[str, Any]:
        """The item as it was when a condition failed; any other error means no slot can be had now."""
        if error_code(error) != "ConditionalCheckFailedException":
            raise BudgetUnavailable(f"the call budget table refused the booking: {error}") from error
        item: Any = error.response.get("Item") or {}  # returned as ReturnValuesOnConditionCheckFailure asks
        return dict(item)


def _soonest() -> Decimal:
    """The soonest slot a booking made now may take: its own round trip from now."""
    return Decimal(str(round(clock.now() + BOOKING_LEAD_SECONDS, 6)))


@dataclass
class _Run:
    """Calls a step will make one after another: booked RUN_SECONDS of the schedule at a time."""

    planned: int  # calls of the run not booked yet
    booked: int = 0  # slots booked and not used yet
    next_at: float = 0.0  # the next booked slot

    def take(self, slots: Slots, category: str, interval: float, now: float) -> float | None:
        """The run's next slot not yet past (booking the next stretch of the run when needed), or None once it is
        over. A slot the caller came too late for is lost: a call never goes in another caller's slot."""
        while self.booked and self.next_at < now:
            self.next_at, self.booked = self.next_at + interval, self.booked - 1
        if not self.booked and self.planned:
            self.booked = min(self.planned, max(1, int(RUN_SECONDS / interval)))
            self.planned -= self.booked
            self.next_at = slots.take(category, interval, self.booked)
        if not self.booked:
            return None
        slot, self.next_at, self.booked = self.next_at, self.next_at + interval, self.booked - 1
        return slot


@dataclass
class CallBudget:
    """Paces ECS calls per category and tells a step how much time it has left."""

    reads_per_second: float = DEFAULT_READS_PER_SECOND
    modify_calls_per_second: float = DEFAULT_MODIFY_CALLS_PER_SECOND
    step_seconds: float = DEFAULT_STEP_SECONDS
    slots: Slots = field(default_factory=LocalSlots)
    step_started: float = field(default_factory=clock.now)
    reads: int = 0  # cluster reads made in this step
    runs: dict[str, _Run] = field(default_factory=dict)  # slots booked together for the calls this step makes next

    @classmethod
    def from_environment(cls, dynamodb: DynamoDBClient | None = None) -> CallBudget:
        """The provider stack's parameters, shared by every drain through its table."""
        env = Environment.read()
        table = env.budget_table
        return cls(
            reads_per_second=env.reads_per_second or DEFAULT_READS_PER_SECOND,
            modify_calls_per_second=env.modify_calls_per_second or DEFAULT_MODIFY_CALLS_PER_SECOND,
            slots=SharedSlots(dynamodb, table) if table and dynamodb is not None else LocalSlots(),
        )

    def interval(self, category: str) -> float:
        rate = self.modify_calls_per_second if category == MODIFY else self.reads_per_second
        return SPACING_MARGIN / rate

    def begin_step(self) -> None:
        """A new step: its allowance starts now."""
        self.step_started = clock.now()
        self.reads = 0
        self.runs.clear()

    def reserve(self, action: str, calls: int) -> None:
        """The next `calls` calls of `action`'s category come one after another: book their slots RUN_SECONDS at a
        time, not one a call, so they go at the full rate (a booking per call costs its round trip, which a call at
        the rate cannot spare). Slots the step leaves unused are lost, never lent: the share is never exceeded."""
        if calls > 1:
            self.runs[CATEGORY.get(action, SERVICE_READ)] = _Run(calls)

    def wait_turn(self, action: str) -> None:
        category = CATEGORY.get(action, SERVICE_READ)
        interval = self.interval(category)
        run = self.runs.get(category)
        slot = run.take(self.slots, category, interval, clock.now()) if run is not None else None
        if slot is None:
            slot = self.slots.take(category, interval)
        now = clock.now()
        if slot > now:
            clock.sleep(slot - now)
        if category == READ:
            self.reads += 1

    def seconds_left(self) -> float:
        return self.step_seconds - (clock.now() - self.step_started)

    def affords(self, reads: int) -> bool:
        """Whether `reads` more cluster reads fit in what is left of this step's allowance, at the pace this
        step's reads have had so far (slower than the rate when other drains share it)."""
        return self.seconds_for(reads) <= self.seconds_left()

    def seconds_for(self, reads: int) -> float:
        """How long `reads` more cluster reads take, at the pace this step's reads have had so far."""
        return reads * self._read_pace()

    def affordable_reads(self, at_least_seconds: float = 0.0) -> int:
        """How many more cluster reads fit in what is left of this step's allowance (as `affords` counts), or in
        `at_least_seconds` where that is longer (work that serves other drains too)."""
        return max(0, math.floor(max(self.seconds_left(), at_least_seconds) / self._read_pace()))

    def _read_pace(self) -> float:
        pace = self.interval(READ)
        if self.reads:
            pace = max(pace, (clock.now() - self.step_started) / self.reads)
        return pace

    def attach(self, ecs: ECSClient) -> None:
        """Every call of this client waits its turn first."""

        def before_call(model: Any, **_: Any) -> None:
            self.wait_turn(model.name)

        ecs.meta.events.register("before-call.ecs", before_call, unique_id="ecs-drain-call-budget")
