"""The instance refresh model, pinned by hand: four instances, launches that take 30 s to come InService."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from emulation.instance_refresh import IN_SERVICE, InstanceRefresh, Member, RefreshError

LAUNCH_SECONDS = 30


@dataclass
class Group:
    """Plays Auto Scaling for the model: launches come InService LAUNCH_SECONDS later (or are held by a launch
    hook for `hold` more seconds), terminations are immediate."""

    members: list[Member]
    hold: float = 0.0
    launched: int = 0
    lowest_healthy: int = 10**6
    log: list[tuple[float, str]] = field(default_factory=list)

    def step(self, refresh: InstanceRefresh, now: float) -> None:
        self.members = [self._advance(m, now) for m in self.members]
        self.lowest_healthy = min(self.lowest_healthy, refresh.healthy(self.members, now))
        moves = refresh.moves(self.members, now)
        for _ in range(moves.launch):
            self.launched += 1
            pending = Member(f"new-{self.launched}", not refresh.moves_back, "Pending", now)
            self.members.append(pending)
            self.log.append((now, f"launch {pending.instance_id}"))
        for instance in moves.terminate:
            self.members = [m for m in self.members if m.instance_id != instance]
            self.log.append((now, f"terminate {instance}"))

    def _advance(self, member: Member, now: float) -> Member:
        if member.state == "Pending" and member.in_service_since is not None:
            launched = member.in_service_since  # while pending: when it was launched
            if now >= launched + LAUNCH_SECONDS + self.hold:
                return replace(member, state=IN_SERVICE, in_service_since=now)
            if self.hold and now >= launched + LAUNCH_SECONDS:
                return member  # held in Pending:Wait by a launch hook: not healthy, not done
        return member

    def run(self, refresh: InstanceRefresh, until: float) -> float | None:
        """Step every second; when the refresh ended (None: not by `until`)."""
        for second in range(int(until) + 1):
            self.step(refresh, float(second))
            if refresh.status not in ("InProgress", "RollbackInProgress"):
                return float(second)
        return None


def old_group(count: int = 4) -> Group:
    return Group([Member(f"old-{n}", False, IN_SERVICE, -1000.0) for n in range(1, count + 1)])


def test_it_terminates_first_at_most_the_instances_above_the_minimum_then_waits_for_the_replacements_to_warm() -> None:
    """MinHealthyPercentage 50 of 4: 2 kept. Batch 1 at 0 s (2 terminated, 2 launched, InService at 30, warm at 90);
    batch 2 at 90 s (InService at 120, warm at 180); the refresh ends at 180 s, never below 2 healthy."""
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60)
    assert group.run(refresh, 1000) == 180 and refresh.status == "Successful"
    assert [t for t, what in group.log if what.startswith("terminate")] == [0, 0, 90, 90]
    assert group.lowest_healthy == 2 and all(m.new for m in group.members) and len(group.members) == 4


def test_it_replaces_one_at_a_time_when_the_minimum_leaves_no_room_and_never_zero() -> None:
    """The default 90 % of 4 rounds up to 4: nothing can go, so one does at a time (at least one): 4 batches of
    30 s each (no warmup), the group down to 3 healthy at worst."""
    group, refresh = old_group(), InstanceRefresh(desired=4)
    assert group.run(refresh, 1000) == 4 * LAUNCH_SECONDS
    assert group.lowest_healthy == 3


def test_it_launches_first_up_to_the_maximum_and_keeps_every_instance_healthy() -> None:
    """Min 100, max 150 of 4: up to 6 at once. 2 launched at 0 (warm at 90); at 90, 2 old out and 2 more launched
    (warm at 180); at 180 the last 2 old out; done at 181. Never fewer than 4 healthy."""
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=100, max_healthy=150, warmup=60)
    assert group.run(refresh, 1000) == 181
    assert [t for t, what in group.log if what.startswith("launch")] == [0, 0, 90, 90]
    assert [t for t, what in group.log if what.startswith("terminate")] == [90, 90, 180, 180]
    assert group.lowest_healthy == 4


def test_it_waits_for_an_instance_a_launch_hook_holds_before_it_goes_on() -> None:
    """A launch hook holds each new instance 100 s more: the first batch's replacements come InService at 130,
    warm at 190, so the second batch starts at 190 and the refresh ends at 380."""
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60)
    group.hold = 100
    assert group.run(refresh, 1000) == 380
    assert group.lowest_healthy == 2


def test_it_waits_at_a_checkpoint_for_its_delay() -> None:
    """Checkpoint at 50 %: after the first batch is warm (90 s) it waits 600 s, then the second batch: done at 780."""
    group = old_group()
    refresh = InstanceRefresh(desired=4, min_healthy=50, warmup=60, checkpoints=(50, 100), checkpoint_delay=600)
    assert group.run(refresh, 2000) == 780 and refresh.checkpoints_passed == [50]


def test_it_fails_on_an_alarm_and_rolls_back_where_it_is_told_to() -> None:
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60)
    for second in range(60):  # the first batch is in, warming up
        group.step(refresh, float(second))
    refresh.alarm("ecs-drain-blocked")
    assert refresh.status == "Failed" and "ecs-drain-blocked" in refresh.status_reason
    assert group.run(refresh, 10) == 0 and sum(m.new for m in group.members) == 2  # nothing more moves

    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60, auto_rollback=True)
    for second in range(60):
        group.step(refresh, float(second))
    refresh.alarm("ecs-drain-blocked")
    assert refresh.status == "RollbackInProgress"
    ended = group.run(refresh, 1000)
    assert ended is not None and refresh.status == "RollbackSuccessful"
    assert not any(m.new for m in group.members) and len(group.members) == 4 and group.lowest_healthy >= 2


def test_it_starts_nothing_more_once_cancelled() -> None:
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50)
    group.step(refresh, 0.0)
    refresh.cancel()
    assert refresh.status == "Cancelled" and refresh.moves(group.members, 1.0).launch == 0


@pytest.mark.parametrize(
    ("low", "high", "said"),
    [
        (101, 100, "MinHealthyPercentage must be from 0 to 100"),
        (90, 99, "MaxHealthyPercentage must be from 100 to 200"),
        (50, 160, "at most 100 above MinHealthyPercentage"),
    ],
)
def test_it_refuses_preferences_auto_scaling_refuses(low: int, high: int, said: str) -> None:
    with pytest.raises(RefreshError, match=said):
        InstanceRefresh(desired=4, min_healthy=low, max_healthy=high)


def test_it_runs_a_refresh_through_the_api_holding_each_old_instance_on_the_groups_termination_hook() -> None:
    """StartInstanceRefresh on a group of 3 with a termination hook, MinHealthyPercentage 50 (2 kept): one old
    instance at a time is held in Terminating:Wait while its replacement launches; completing each action lets the
    next batch go; DescribeInstanceRefreshes says Successful, 100 %, once all 3 run the new configuration."""
    from emulation.scenarios import rollover_world

    with rollover_world(kind="AutoScalingGroup", new_instances=0, log_level="ERROR") as world:
        autoscaling, group = world.aws.client("autoscaling"), world.old.request_id
        autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=group,
            LifecycleHookName="drain",
            LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
            HeartbeatTimeout=600,
            DefaultResult="CONTINUE",
        )
        old = set(world.old.ec2_ids)
        started = autoscaling.start_instance_refresh(
            AutoScalingGroupName=group, Preferences={"MinHealthyPercentage": 50, "InstanceWarmup": 0}
        )
        held_at_once = 0
        for _ in range(40):
            world.aws.clock.advance(5)
            instances = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
            states = {i["InstanceId"]: i["LifecycleState"] for i in instances[0]["Instances"]}
            held = [i for i, state in states.items() if state == "Terminating:Wait"]
            held_at_once = max(held_at_once, len(held))
            assert sum(1 for state in states.values() if state == "InService") >= 2  # the minimum, always
            for instance in held:
                autoscaling.complete_lifecycle_action(
                    AutoScalingGroupName=group,
                    LifecycleHookName="drain",
                    InstanceId=instance,
                    LifecycleActionResult="CONTINUE",
                )
        [refresh] = autoscaling.describe_instance_refreshes(AutoScalingGroupName=group)["InstanceRefreshes"]
        assert refresh["InstanceRefreshId"] == started["InstanceRefreshId"]
        assert (refresh["Status"], refresh["PercentageComplete"], refresh["InstancesToUpdate"]) == (
            "Successful",
            100,
            0,
        )
        assert held_at_once == 1 and not old & set(states) and len(states) == 3


def test_it_rolls_back_by_request_only_while_in_progress() -> None:
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60)
    for second in range(60):
        group.step(refresh, float(second))
    refresh.roll_back()
    assert refresh.status == "RollbackInProgress" and group.run(refresh, 1000) is not None
    assert refresh.status == "RollbackSuccessful" and not any(m.new for m in group.members)
    with pytest.raises(RefreshError, match="RollbackSuccessful cannot be rolled back"):
        refresh.roll_back()


def test_it_refreshes_back_what_a_failed_refresh_launched_as_cloudformations_rollback_does() -> None:
    """MinHealthyPercentage 50 of 4: the first batch (old-1, old-2 out; new-1, new-2 in at 30 s, warm at 90 s) is
    done when an alarm fails the refresh at 60 s. A refresh back (`reverting`: the same preferences) replaces new-1
    and new-2 by instances of the configuration of before, two at a time as the minimum allows, and ends Successful
    (not RollbackSuccessful: it is a refresh of its own)."""
    group, refresh = old_group(), InstanceRefresh(desired=4, min_healthy=50, warmup=60)
    for second in range(61):
        group.step(refresh, float(second))
    refresh.alarm("blocked")
    assert refresh.status == "Failed" and sorted(m.instance_id for m in group.members if m.new) == ["new-1", "new-2"]
    back = replace(refresh, status="InProgress", status_reason="", reverting=True)
    ended = group.run(back, 1000)
    assert back.status == "Successful" and ended is not None
    assert not any(m.new for m in group.members) and len(group.members) == 4
    assert {"terminate new-1", "terminate new-2"} <= {what for _, what in group.log}
    assert group.lowest_healthy >= 2
