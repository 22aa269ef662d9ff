"""An instance refresh as Amazon EC2 Auto Scaling runs it, which moto does not: the model alone, on the simulated
clock's seconds. Given what the group's instances are now, it says what to launch and what to terminate next, and how
the refresh stands; `autoscaling_api` carries the moves out (through the group's lifecycle hooks).

The rules (Amazon EC2 Auto Scaling user guide: "Use an instance refresh to update instances in an Auto Scaling
group", "Understand the default values for an instance refresh", "Instance maintenance policies", "Add checkpoints
to an instance refresh", "Use CloudWatch alarms with an instance refresh"; the API reference of RefreshPreferences):
- MinHealthyPercentage (default 90, 0 to 100) of the desired capacity, rounded up, stays InService and healthy: a
  new instance counts once InService for its InstanceWarmup; one held in Pending:Wait by a launch hook does not,
  nor does an old one held in Terminating:Wait.
- MaxHealthyPercentage (default 100, 100 to 200, at most 100 above the minimum) of the desired capacity, rounded
  down, is the most instances the group runs at once. At 100 the refresh terminates first (as many old instances as
  keep the minimum, at least one) and launches their replacements; above 100 it launches first, up to the maximum,
  and terminates old instances as new ones become healthy.
- CheckpointPercentages: once the share of instances replaced reaches one, the refresh waits CheckpointDelay
  (default 3,600 s) before going on (the last checkpoint, 100, ends it).
- An alarm of AlarmSpecification in ALARM fails the refresh; with AutoRollback the group is rolled back to the old
  configuration by the same rules (the new instances are the ones to replace), as RollbackInstanceRefresh does while
  it is in progress. Cancelled, it starts nothing more.
- CloudFormation's rollback of an update whose AutoScalingInstanceRefresh failed reverts the launch template and
  refreshes back by the same policy (the reference bounds each direction by 36 hours): `reverting`, a refresh whose
  instances to replace are those the failed one launched, ending Successful. How CloudFormation starts it (its
  preferences, whether it names the alarms again) is not documented: the same preferences, no alarm, here.
Not modelled: SkipMatching (every old instance is replaced), warm pools, standby and scale-in protected instances
(ScaleInProtectedInstances, StandbyInstances), BakeTime, the 36-hour limits CloudFormation sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

DEFAULT_MIN_HEALTHY = 90
DEFAULT_MAX_HEALTHY = 100
DEFAULT_CHECKPOINT_DELAY = 3600
IN_SERVICE = "InService"


class RefreshError(ValueError):
    """What Auto Scaling refuses with a ValidationError when the refresh is started."""


@dataclass(frozen=True)
class Member:
    """One instance of the group, as the refresh sees it."""

    instance_id: str
    new: bool  # launched with the refresh's configuration (the one it moves to)
    state: str  # its LifecycleState
    in_service_since: float | None = None


@dataclass(frozen=True)
class Moves:
    launch: int = 0  # instances to launch with the configuration the refresh moves to
    terminate: tuple[str, ...] = ()


@dataclass
class InstanceRefresh:
    """One refresh of one group: its preferences, and how it stands."""

    desired: int
    min_healthy: int = DEFAULT_MIN_HEALTHY
    max_healthy: int = DEFAULT_MAX_HEALTHY
    warmup: float = 0.0
    checkpoints: tuple[int, ...] = ()
    checkpoint_delay: float = DEFAULT_CHECKPOINT_DELAY
    auto_rollback: bool = False
    status: str = "InProgress"  # Pending, InProgress, Successful, Failed, Cancelled, RollbackInProgress, ...
    status_reason: str = ""
    paused_until: float | None = None  # at a checkpoint
    checkpoints_passed: list[int] = field(default_factory=list)
    rolling_back: bool = False  # the instances to replace are then the new ones
    reverting: bool = False  # a refresh back (CloudFormation's rollback): the same, as a refresh of its own

    def __post_init__(self) -> None:
        if not 0 <= self.min_healthy <= 100:
            raise RefreshError(f"MinHealthyPercentage must be from 0 to 100: {self.min_healthy}")
        if not 100 <= self.max_healthy <= 200 or self.max_healthy - self.min_healthy > 100:
            raise RefreshError(
                f"MaxHealthyPercentage must be from 100 to 200, and at most 100 above MinHealthyPercentage: "
                f"{self.max_healthy}"
            )

    @property
    def floor(self) -> int:
        return math.ceil(self.desired * self.min_healthy / 100)

    @property
    def ceiling(self) -> int:
        return max(self.desired, math.floor(self.desired * self.max_healthy / 100))

    def healthy(self, members: list[Member], now: float) -> int:
        """InService, and warmed up where it is one the refresh launched."""
        return sum(1 for m in members if m.state == IN_SERVICE and self._warm(m, now))

    def replaced_percent(self, members: list[Member]) -> int:
        """The share of the desired capacity that runs the configuration the refresh moves to, healthy or not."""
        done = sum(1 for m in members if self._target(m) and m.state in (IN_SERVICE, "Pending", "Pending:Wait"))
        return math.floor(100 * min(done, self.desired) / self.desired) if self.desired else 100

    def moves(self, members: list[Member], now: float) -> Moves:
        """What to do now; the status changes where the refresh reaches a checkpoint or its end."""
        if self.status not in ("InProgress", "RollbackInProgress") or (
            self.paused_until is not None and now < self.paused_until
        ):
            return Moves()
        self.paused_until = None
        to_replace = [m for m in members if not self._target(m) and m.state in (IN_SERVICE, "Pending")]
        running = [m for m in members if not m.state.startswith("Terminat") and m.state != "Retained"]
        busy = self._in_flight(members) or self._warming(members, now)
        if not to_replace and not busy and len(running) >= self.desired:
            self._end()
            return Moves()
        if not busy and self._checkpoint(members, now):
            return Moves()
        healthy = self.healthy(members, now)
        if self.max_healthy > 100:  # launch first, up to the maximum; terminate old ones as new ones are healthy
            old_healthy = [m.instance_id for m in to_replace if m.state == IN_SERVICE]
            out = max(0, min(healthy - self.floor, len(running) - self.desired, len(old_healthy)))
            needed = self.desired - sum(1 for m in running if self._target(m))
            launch = max(0, min(self.ceiling - (len(running) - out), needed))
            return Moves(launch, tuple(old_healthy[:out]))
        # Terminate first: as many as keep the minimum healthy (at least one), their replacements launched with
        # them; the next batch once those are healthy.
        owed = max(0, self.desired - len(running))  # replacements still owed (an instance lost meanwhile)
        if busy or owed:
            return Moves(owed)
        batch = min(len(to_replace), max(1, healthy - self.floor))
        return Moves(batch, tuple(m.instance_id for m in to_replace[:batch]))

    def _warming(self, members: list[Member], now: float) -> bool:
        """Instances the refresh launched that are InService but not yet past their warmup."""
        return any(self._target(m) and m.state == IN_SERVICE and not self._warm(m, now) for m in members)

    def alarm(self, name: str) -> None:
        """An alarm of the refresh went into ALARM: the refresh fails (and rolls back where it is to)."""
        if self.status != "InProgress":
            return
        self.status_reason = f"The instance refresh failed: alarm {name} went into ALARM"
        if self.auto_rollback:
            self.status, self.rolling_back, self.paused_until = "RollbackInProgress", True, None
        else:
            self.status = "Failed"

    @property
    def moves_back(self) -> bool:
        """Its launches have the configuration of before (a rollback, or a refresh back)."""
        return self.rolling_back or self.reverting

    def roll_back(self) -> None:
        """RollbackInstanceRefresh: replace what the refresh deployed so far (only while it is in progress: a refresh
        that has ended cannot be rolled back, the user guide's "Undo changes with a manual or auto rollback")."""
        if self.status != "InProgress":
            raise RefreshError(f"An instance refresh that is {self.status} cannot be rolled back")
        self.status, self.rolling_back, self.paused_until = "RollbackInProgress", True, None
        self.status_reason = "Rollback started by request"

    def cancel(self) -> None:
        if self.status in ("Pending", "InProgress"):
            self.status, self.status_reason = "Cancelled", "Cancelled by request"

    def _target(self, member: Member) -> bool:
        """Whether the instance runs the configuration the refresh (or its rollback) moves to."""
        return member.new != (self.rolling_back or self.reverting)

    def _warm(self, member: Member, now: float) -> bool:
        if not self._target(member):
            return True  # an instance that was there before counts as it is
        return member.in_service_since is not None and now - member.in_service_since >= self.warmup

    def _in_flight(self, members: list[Member]) -> bool:
        """Instances on their way in (launching, held by a launch hook) or out (terminating, held). A Retained one
        (its termination abandoned, kept by the group's instance lifecycle policy) is out of the refresh's way."""
        return any(m.state not in (IN_SERVICE, "Terminated", "Retained") for m in members)

    def _checkpoint(self, members: list[Member], now: float) -> bool:
        """Pause at the next checkpoint reached (what is in flight has settled)."""
        if self.rolling_back:
            return False
        reached = [p for p in self.checkpoints if p not in self.checkpoints_passed and p < 100]
        done = self.replaced_percent(members)
        due = [p for p in reached if done >= p]
        if not due:
            return False
        self.checkpoints_passed.extend(due)
        self.paused_until = now + self.checkpoint_delay
        return True

    def _end(self) -> None:
        self.status = "RollbackSuccessful" if self.rolling_back else "Successful"
