"""Auto Scaling's lifecycle calls, answered as AWS answers them where moto cannot: TerminateInstanceInAutoScalingGroup
holds an instance its group's termination hooks hold (moto terminates it at once, and tells the ECS simulator
nothing: with no hook it is terminated here, in both), CompleteLifecycleAction and
RecordLifecycleActionHeartbeat (moto has neither), DeleteLifecycleHook completing the hook's outstanding actions
first (moto deletes the hook alone), on the model of `lifecycle_hooks`. The instance's LifecycleState
is kept on moto's group, so DescribeAutoScalingInstances and DescribeAutoScalingGroups show it.

When an action ends (completed, or timed out on the simulated clock), the instance goes where the model says: a
terminated one is terminated in EC2 (and so in the ECS simulator: whatever still runs there is killed); a retained
one stays, out of the group's desired capacity. SetDesiredCapacity holds what it takes out (or launches) on the
group's hooks; the hooks' events go to the account's bus. An instance refresh (StartInstanceRefresh,
DescribeInstanceRefreshes, CancelInstanceRefresh) runs on the model of `instance_refresh`, its moves carried out
through the same hooks. Not yet modelled: scale-in by UpdateAutoScalingGroup, the ECS agent of a launched instance
registering by itself (`on_launch`), CloudFormation's update policies (issue 47 builds on this).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends

from . import moto_patches
from .ecs_simulator import EcsSimulator
from .instance_refresh import (
    DEFAULT_CHECKPOINT_DELAY,
    DEFAULT_MAX_HEALTHY,
    DEFAULT_MIN_HEALTHY,
    IN_SERVICE,
    InstanceRefresh,
    Member,
    RefreshError,
)
from .lifecycle_hooks import LAUNCHING, TERMINATING, LifecycleAction, LifecycleActions, LifecycleError

ANSWERED = (
    "TerminateInstanceInAutoScalingGroup",
    "SetDesiredCapacity",
    "CompleteLifecycleAction",
    "RecordLifecycleActionHeartbeat",
    "StartInstanceRefresh",
    "DescribeInstanceRefreshes",
    "CancelInstanceRefresh",
    "RollbackInstanceRefresh",
    "DeleteLifecycleHook",
)
REFRESH_TICK_SECONDS = 5.0  # how often a refresh under way looks at its group again
_VALIDATION_ERROR = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>{message}</Message></Error>"
    "</ErrorResponse>"
)
PARAMETERS = (
    "InstanceId",
    "ShouldDecrementDesiredCapacity",
    "AutoScalingGroupName",
    "LifecycleHookName",
    "LifecycleActionToken",
    "LifecycleActionResult",
    "DesiredCapacity",
)


class AutoScalingLifecycle:
    """The lifecycle actions of one account and Region, on the ECS simulator's clock."""

    def __init__(self, sim: EcsSimulator, account: str, region: str) -> None:
        self.sim = sim
        self.backend = autoscaling_backends[account][region]
        self.ec2 = ec2_backends[account][region]
        self.actions = LifecycleActions()
        self.retain_on_abandon: set[str] = set()  # groups whose lifecycle policy retains abandoned terminations
        self.publish: Callable[[dict[str, Any]], None] = lambda _event: None  # the account's event bus
        self.account, self.region = account, region
        self.refreshes: dict[str, Refreshing] = {}  # group -> its latest instance refresh
        # An instance launched, and whether with the configuration of before (a rollback's): the world registers it.
        self.on_launch: Callable[[str, bool], None] = lambda _ec2_id, _before: None

    def answer(self, action: str, params: dict[str, Any]) -> Any:
        """(status, headers, body) of the call, as the service puts it on the wire; None: moto answers it."""
        try:
            if action in ("StartInstanceRefresh", "DescribeInstanceRefreshes", "CancelInstanceRefresh",
                          "RollbackInstanceRefresh"):  # fmt: skip
                return self._refresh_call(action, params)
            if action == "TerminateInstanceInAutoScalingGroup":
                return self._terminate(params)
            if action == "SetDesiredCapacity":
                return self._set_capacity(params)
            if action == "DeleteLifecycleHook":
                self._complete_hook(params.get("AutoScalingGroupName", ""), params.get("LifecycleHookName", ""))
                return None  # moto deletes the hook itself
            group, hook = params.get("AutoScalingGroupName", ""), params.get("LifecycleHookName", "")
            token, instance = params.get("LifecycleActionToken", ""), params.get("InstanceId", "")
            now = self._now()
            if action == "CompleteLifecycleAction":
                result = params.get("LifecycleActionResult", "")
                self.actions.complete(group, hook, result, now, token=token, instance_id=instance)
            else:
                self.actions.heartbeat(group, hook, now, token=token, instance_id=instance)
                self._schedule()
        except (LifecycleError, RefreshError) as error:
            return 400, {"status": "400"}, _VALIDATION_ERROR.format(message=error)
        self.settle()
        return moto_patches.serialized("autoscaling", action, {})

    def settle(self) -> None:
        """End what has timed out; send every instance no action holds any longer where its actions say."""
        self.actions.expire(self._now())
        for group in self.backend.autoscaling_groups.values():
            for state in list(group.instance_states):
                if state.lifecycle_state not in ("Terminating:Wait", "Pending:Wait"):
                    continue
                if self.actions.holding(state.instance.id):
                    continue
                ended = [a for a in self.actions.actions if a.instance_id == state.instance.id]
                self._leave(group, state, ended)

    def _complete_hook(self, group: str, hook: str) -> None:
        """DeleteLifecycleHook: "If there are any outstanding lifecycle actions, they are completed first (ABANDON
        for launching instances, CONTINUE for terminating instances)" (its API reference)."""
        now = self._now()
        self.actions.expire(now)
        for action in [a for a in self.actions.actions if a.ended is None and (a.group, a.hook) == (group, hook)]:
            result = "CONTINUE" if action.transition == TERMINATING else "ABANDON"
            self.actions.complete(group, hook, result, now, token=action.token)
        self.settle()

    def _terminate(self, params: dict[str, Any]) -> Any:
        instance_id = params["InstanceId"]
        group, state = self._group_of(instance_id)
        if self._hooks(group):
            self._hold(group, state)
        else:  # terminated at once, as AWS does with no hook: in EC2 and in the ECS simulator (moto would not tell it)
            self._leave(group, state, [])
        if str(params.get("ShouldDecrementDesiredCapacity", "false")).lower() == "true":
            group.desired_capacity = max(0, (group.desired_capacity or 0) - 1)
        now = self._now()
        activity = {
            "ActivityId": str(uuid.uuid4()),
            "AutoScalingGroupName": group.name,
            "Cause": f"instance {instance_id} was taken out of service in response to a user request",
            "StartTime": datetime.fromtimestamp(now, UTC),
            "StatusCode": "InProgress",
        }
        return moto_patches.serialized("autoscaling", "TerminateInstanceInAutoScalingGroup", {"Activity": activity})

    def _set_capacity(self, params: dict[str, Any]) -> Any:
        """SetDesiredCapacity. Below the instances in service, the instances it takes out (moto's choice: the first
        not protected from scale-in) are held where the group has a termination hook, else terminated at once (in
        EC2 and in the ECS simulator, which moto would not tell). Above, with a launch hook: the instances launched
        up to it (those already on their way in counting) are held in Pending:Wait (and `on_launch` told)."""
        group = self.backend.autoscaling_groups[params["AutoScalingGroupName"]]
        desired = int(params["DesiredCapacity"])
        in_service = [s for s in group.instance_states if s.lifecycle_state == "InService"]
        if desired < len(in_service):
            removable = [s for s in in_service if not s.protected_from_scale_in]
            for state in removable[: len(in_service) - desired]:
                if self._hooks(group, TERMINATING):
                    self._hold(group, state, TERMINATING)
                else:
                    self._leave(group, state, [])  # terminated at once, in EC2 and in the ECS simulator
            group.desired_capacity = desired
        elif desired > len(in_service) and self._hooks(group, LAUNCHING):
            # Instances on their way in count toward the desired capacity (moto counts InService ones alone, and
            # would launch again for each one a launch hook holds).
            coming = sum(1 for s in group.instance_states if s.lifecycle_state in ("Pending", "Pending:Wait"))
            before = {s.instance.id for s in group.instance_states}
            group.desired_capacity = desired
            missing = desired - len(in_service) - coming
            if missing > 0:
                group.replace_autoscaling_group_instances(missing, group.get_propagated_tags())
            for state in [s for s in group.instance_states if s.instance.id not in before]:
                self._hold(group, state, LAUNCHING)
                self.on_launch(state.instance.id, False)
        else:
            return None  # moto launches, or terminates at once, as AWS does with no hook
        return moto_patches.serialized("autoscaling", "SetDesiredCapacity", {})

    def _hooks(self, group: Any, transition: str = TERMINATING) -> list[Any]:
        return [h for h in self.backend.describe_lifecycle_hooks(group.name) if h.lifecycle_transition == transition]

    def _hold(self, group: Any, state: Any, transition: str = TERMINATING) -> None:
        """Each hook of the group for this transition holds the instance, and says so to EventBridge."""
        now = self._now()
        for hook in self._hooks(group, transition):
            settings = {"HeartbeatTimeout": hook.heartbeat_timeout, "DefaultResult": hook.default_result}
            held = self.actions.begin(group.name, hook.name, state.instance.id, transition, now, **settings)
            self.publish(self._event(held, group.arn))
        state.lifecycle_state = "Terminating:Wait" if transition == TERMINATING else "Pending:Wait"
        self._schedule()

    def _event(self, action: LifecycleAction, group_arn: str) -> dict[str, Any]:
        """What Auto Scaling sends EventBridge when a hook holds an instance (EventBridge delivers it best effort)."""
        verb = "terminate" if action.transition == TERMINATING else "launch"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": f"EC2 Instance-{verb} Lifecycle Action",
            "source": "aws.autoscaling",
            "account": self.account,
            "time": datetime.fromtimestamp(action.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [group_arn],
            "detail": {
                "LifecycleActionToken": action.token,
                "AutoScalingGroupName": action.group,
                "LifecycleHookName": action.hook,
                "EC2InstanceId": action.instance_id,
                "LifecycleTransition": action.transition,
                "Origin": "AutoScalingGroup" if action.transition == TERMINATING else "EC2",
                "Destination": "EC2" if action.transition == TERMINATING else "AutoScalingGroup",
            },
        }

    def _group_of(self, instance_id: str) -> tuple[Any, Any]:
        for group in self.backend.autoscaling_groups.values():
            for state in group.instance_states:
                if state.instance.id == instance_id:
                    return group, state
        raise LifecycleError(f"Instance Id not found - No managed instance found for instance ID: {instance_id}")

    def _leave(self, group: Any, state: Any, ended: list[LifecycleAction]) -> None:
        """Where the instance goes: Retained where an abandoned termination is retained, else terminated."""
        retain = group.name in self.retain_on_abandon
        outcomes = {a.outcome(retain) for a in ended}
        if "Retained" in outcomes or outcomes == {"InService"}:
            state.lifecycle_state = "Retained" if "Retained" in outcomes else "InService"
            return
        group.instance_states.remove(state)
        self.ec2.terminate_instances([state.instance.id])
        container = next((c for c, e in self.sim.ec2_ids.items() if e == state.instance.id), None)
        if container is not None:
            self.sim.terminate_instance(container)

    # ---- instance refresh -------------------------------------------------------------------------
    def _refresh_call(self, action: str, params: dict[str, Any]) -> Any:
        name = params.get("AutoScalingGroupName", "")
        group = self.backend.autoscaling_groups.get(name)
        if group is None:
            raise RefreshError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        current = self.refreshes.get(name)
        if action == "StartInstanceRefresh":
            if current is not None and current.refresh.status in ("Pending", "InProgress", "RollbackInProgress"):
                raise RefreshError(f"An Instance Refresh is already in progress for {name}")
            self.refreshes[name] = Refreshing.start(group, params, self._now())
            self.sim.at(self._now(), lambda: self._refresh_tick(name))
            return moto_patches.serialized(
                "autoscaling", action, {"InstanceRefreshId": self.refreshes[name].refresh_id}
            )
        if action in ("CancelInstanceRefresh", "RollbackInstanceRefresh"):
            if current is None:
                raise RefreshError(f"No in progress or pending Instance Refresh found for {name}")
            if action == "CancelInstanceRefresh":
                current.refresh.cancel()
            else:
                current.refresh.roll_back()
                self.sim.at(self._now(), lambda: self._refresh_tick(name))
            return moto_patches.serialized("autoscaling", action, {"InstanceRefreshId": current.refresh_id})
        described = [current.describe(name, self._members(group, current))] if current is not None else []
        return moto_patches.serialized("autoscaling", action, {"InstanceRefreshes": described})

    def refresh_back(self, name: str) -> None:
        """CloudFormation rolls back an update whose refresh failed: the launch template reverted, a refresh of the
        same preferences (no alarm) replaces the instances the failed one launched (instance_refresh.py)."""
        failed = self.refreshes[name]
        back = replace(
            failed.refresh, status="InProgress", status_reason="", paused_until=None, rolling_back=False, reverting=True
        )
        back.checkpoints_passed = []
        now = self._now()
        group = self.backend.autoscaling_groups[name]
        to_update = sum(1 for s in group.instance_states if s.instance.id in failed.launched)
        self.refreshes[name] = Refreshing(
            str(uuid.uuid4()), back, now, launched=set(failed.launched), to_update=to_update
        )
        self.sim.at(now, lambda: self._refresh_tick(name))

    def alarm(self, group: str, name: str) -> None:
        """A CloudWatch alarm the group's refresh watches went into ALARM (the world, or a test, says so)."""
        if group in self.refreshes and name in self.refreshes[group].alarms:
            self.refreshes[group].refresh.alarm(name)

    def _now(self) -> float:
        return max(self.sim.now, self.sim.clock.now())  # the simulator's time, inside its queue

    def _members(self, group: Any, refreshing: Refreshing) -> list[Member]:
        now = self._now()
        for state in group.instance_states:
            if state.lifecycle_state == IN_SERVICE:
                refreshing.in_service_since.setdefault(state.instance.id, now)
        return [
            Member(
                s.instance.id,
                s.instance.id in refreshing.launched,
                s.lifecycle_state,
                refreshing.in_service_since.get(s.instance.id),
            )
            for s in group.instance_states
        ]

    def _refresh_tick(self, name: str) -> None:
        """One look of the group's refresh: carry out its moves, and look again REFRESH_TICK_SECONDS later."""
        group, refreshing = self.backend.autoscaling_groups.get(name), self.refreshes.get(name)
        if group is None or refreshing is None:
            return
        self.settle()
        now = self._now()
        moves = refreshing.refresh.moves(self._members(group, refreshing), now)
        for instance_id in moves.terminate:
            state = next(s for s in group.instance_states if s.instance.id == instance_id)
            if self._hooks(group, TERMINATING):
                self._hold(group, state, TERMINATING)
            else:
                self._leave(group, state, [])
        if moves.launch:
            before = {s.instance.id for s in group.instance_states}
            group.replace_autoscaling_group_instances(moves.launch, group.get_propagated_tags())
            for state in [s for s in group.instance_states if s.instance.id not in before]:
                back = refreshing.refresh.moves_back  # a rollback launches with the configuration of before
                if not back:
                    refreshing.launched.add(state.instance.id)
                if self._hooks(group, LAUNCHING):
                    self._hold(group, state, LAUNCHING)
                self.on_launch(state.instance.id, back)
        if refreshing.refresh.status in ("InProgress", "RollbackInProgress"):
            self.sim.at(now + REFRESH_TICK_SECONDS, lambda: self._refresh_tick(name))

    def _schedule(self) -> None:
        """Settle again when the next action under way falls due (a heartbeat moves that time)."""
        due = [a.due for a in self.actions.actions if a.ended is None]
        if due:
            self.sim.at(min(due), self.settle)


@dataclass
class Refreshing:
    """A group's instance refresh: the model, and what the API keeps of it."""

    refresh_id: str
    refresh: InstanceRefresh
    started: float
    alarms: tuple[str, ...] = ()
    launched: set[str] = field(default_factory=set)  # instances launched with the configuration it moves to
    in_service_since: dict[str, float] = field(default_factory=dict)
    to_update: int = 0

    @classmethod
    def start(cls, group: Any, params: dict[str, Any], now: float) -> Refreshing:
        def number(name: str, default: int) -> int:
            value = params.get(f"Preferences.{name}")
            return int(value) if value is not None else default

        checkpoints = tuple(
            int(v) for k, v in sorted(params.items()) if k.startswith("Preferences.CheckpointPercentages.member.")
        )
        alarms = tuple(v for k, v in sorted(params.items()) if k.startswith("Preferences.AlarmSpecification.Alarms."))
        refresh = InstanceRefresh(
            desired=group.desired_capacity or 0,
            min_healthy=number("MinHealthyPercentage", DEFAULT_MIN_HEALTHY),
            max_healthy=number("MaxHealthyPercentage", DEFAULT_MAX_HEALTHY),
            warmup=number("InstanceWarmup", 0),
            checkpoints=checkpoints,
            checkpoint_delay=number("CheckpointDelay", DEFAULT_CHECKPOINT_DELAY),
            auto_rollback=str(params.get("Preferences.AutoRollback", "false")).lower() == "true",
        )
        return cls(str(uuid.uuid4()), refresh, now, alarms, to_update=len(group.instance_states))

    def describe(self, group: str, members: list[Member]) -> dict[str, Any]:
        """As DescribeInstanceRefreshes gives it."""
        percent = self.refresh.replaced_percent(members)
        return {
            "InstanceRefreshId": self.refresh_id,
            "AutoScalingGroupName": group,
            "Status": self.refresh.status,
            "StatusReason": self.refresh.status_reason,
            "StartTime": datetime.fromtimestamp(self.started, UTC),
            "PercentageComplete": percent,
            "InstancesToUpdate": max(0, self.to_update - sum(1 for m in members if m.new)),
        }
