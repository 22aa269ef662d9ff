"""Auto Scaling lifecycle actions as AWS runs them, which moto does not: an instance held in `Terminating:Wait` (or
`Pending:Wait`) by a lifecycle hook until CompleteLifecycleAction, or until its heartbeat timeout runs out.

The rules (Amazon EC2 Auto Scaling user guide, "Amazon EC2 Auto Scaling lifecycle hooks", "Complete a lifecycle
action", "Instance lifecycle policy"; the API reference of CompleteLifecycleAction and
RecordLifecycleActionHeartbeat):
- a hook's HeartbeatTimeout is 30 to 7,200 s (3,600 when not given); RecordLifecycleActionHeartbeat restarts it;
- an action lasts at most 48 hours or 100 heartbeat timeouts, whichever is less, heartbeats or not;
- on a timeout the hook's DefaultResult applies (ABANDON when not given);
- a termination ends in Terminated whatever the result (a termination hook is best effort), unless the result is
  ABANDON and the group's instance lifecycle policy retains instances whose termination hook is abandoned
  (`RetentionTriggers: TerminateHookAbandon: retain`): then Retained. A launch goes InService on CONTINUE and is
  terminated on ABANDON;
- the calls name the action by its token or by the instance; an action that has ended, or none, is refused with a
  ValidationError. The message is moto's wording for an unknown action, not AWS's, which is not documented.

This module is the model alone, on the simulated clock's seconds: what holds an instance, until when, and how it
ends. `tests/emulation/test_lifecycle_hooks.py` pins it by hand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
MIN_HEARTBEAT_SECONDS = 30
MAX_HEARTBEAT_SECONDS = 7200
DEFAULT_HEARTBEAT_SECONDS = 3600
MAX_ACTION_SECONDS = 48 * 3600
MAX_HEARTBEAT_TIMEOUTS = 100
RESULTS = ("CONTINUE", "ABANDON")


class LifecycleError(ValueError):
    """What Auto Scaling refuses with a ValidationError."""


@dataclass
class LifecycleAction:
    """One instance held by one hook."""

    group: str
    hook: str
    instance_id: str
    transition: str
    heartbeat_seconds: int
    default_result: str
    started: float
    beat: float = field(init=False)  # when the heartbeat timer last started
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    result: str | None = None  # CONTINUE or ABANDON, once ended
    ended: float | None = None
    timed_out: bool = False

    def __post_init__(self) -> None:
        self.beat = self.started

    @property
    def last_moment(self) -> float:
        """48 hours or 100 heartbeat timeouts after it began, whichever comes first."""
        return self.started + min(MAX_ACTION_SECONDS, MAX_HEARTBEAT_TIMEOUTS * self.heartbeat_seconds)

    @property
    def due(self) -> float:
        """When it ends by itself if nothing completes it: its heartbeat timeout, or its last moment."""
        return min(self.beat + self.heartbeat_seconds, self.last_moment)

    @property
    def state(self) -> str:
        """The instance's LifecycleState while held."""
        return "Terminating:Wait" if self.transition == TERMINATING else "Pending:Wait"

    def outcome(self, retain_on_abandon: bool) -> str:
        """Where the instance goes once the action has ended."""
        if self.transition == LAUNCHING:
            return "InService" if self.result == "CONTINUE" else "Terminated"
        return "Retained" if self.result == "ABANDON" and retain_on_abandon else "Terminated"


@dataclass
class LifecycleActions:
    """The actions under way and ended, in one account and Region."""

    actions: list[LifecycleAction] = field(default_factory=list)

    def begin(
        self, group: str, hook: str, instance_id: str, transition: str, now: float, **settings: object
    ) -> LifecycleAction:
        """Hold the instance: `settings` are the hook's HeartbeatTimeout and DefaultResult, as it was put."""
        heartbeat = int(str(settings.get("HeartbeatTimeout", DEFAULT_HEARTBEAT_SECONDS)))
        if not MIN_HEARTBEAT_SECONDS <= heartbeat <= MAX_HEARTBEAT_SECONDS:
            raise LifecycleError(f"HeartbeatTimeout must be from 30 to 7200 seconds: {heartbeat}")
        default = str(settings.get("DefaultResult", "ABANDON"))
        if default not in RESULTS:
            raise LifecycleError(f"DefaultResult must be CONTINUE or ABANDON: {default}")
        action = LifecycleAction(group, hook, instance_id, transition, heartbeat, default, now)
        self.actions.append(action)
        return action

    def heartbeat(self, group: str, hook: str, now: float, token: str = "", instance_id: str = "") -> None:
        """RecordLifecycleActionHeartbeat: the heartbeat timer starts again (never past the action's last moment)."""
        self._active(group, hook, now, token, instance_id).beat = now

    def complete(self, group: str, hook: str, result: str, now: float, token: str = "", instance_id: str = "") -> None:
        """CompleteLifecycleAction."""
        if result not in RESULTS:
            raise LifecycleError(f"LifecycleActionResult must be CONTINUE or ABANDON: {result}")
        action = self._active(group, hook, now, token, instance_id)
        action.result, action.ended = result, now

    def expire(self, now: float) -> list[LifecycleAction]:
        """End the actions whose time has come, with their hook's DefaultResult: those that ended now."""
        ended = [a for a in self.actions if a.ended is None and a.due <= now]
        for action in ended:
            action.result, action.ended, action.timed_out = action.default_result, action.due, True
        return ended

    def holding(self, instance_id: str) -> list[LifecycleAction]:
        return [a for a in self.actions if a.instance_id == instance_id and a.ended is None]

    def _active(self, group: str, hook: str, now: float, token: str, instance_id: str) -> LifecycleAction:
        self.expire(now)
        for action in self.actions:
            named = action.token == token if token else action.instance_id == instance_id
            if named and action.ended is None and (action.group, action.hook) == (group, hook):
                return action
        raise LifecycleError(f"No active Lifecycle Action found with token {token or instance_id}")
