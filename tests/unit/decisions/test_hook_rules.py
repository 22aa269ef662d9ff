"""A group's hooks decided: binding problems, a drain's deadline within the hook's hold, heartbeats, results."""

from __future__ import annotations

from ecs_drain.decisions import hook_rules
from ecs_drain.decisions.hook_rules import LAUNCHING, TERMINATING, Hook
from ecs_drain.decisions.properties import parse


def test_it_holds_an_instance_100_heartbeat_timeouts_or_48_hours_whichever_is_less() -> None:
    assert hook_rules.hold_limit_seconds(120) == 12_000
    assert hook_rules.hold_limit_seconds(3600) == 48 * 3600
    # DrainTimeoutSeconds as given, within the hold less the margin; without it, the hold less the margin.
    assert (
        hook_rules.hook_drain_seconds(parse({"Cluster": "w", "AutoScalingGroup": "a", "TerminationHook": "d"}), 120)
        == 11_880
    )
    given = parse({"Cluster": "w", "AutoScalingGroup": "a", "TerminationHook": "d", "DrainTimeoutSeconds": 7200})
    assert hook_rules.hook_drain_seconds(given, 120) == 7200
    assert hook_rules.hook_drain_seconds(given, 60) == 5880


def test_it_binds_only_a_termination_hook_it_can_keep_holding_naming_what_to_change() -> None:
    fine = parse({"Cluster": "w", "AutoScalingGroup": "asg", "TerminationHook": "drain"})
    assert hook_rules.binding_problems(fine, Hook("drain", TERMINATING, 120, "CONTINUE"), []) == []
    [missing] = hook_rules.binding_problems(fine, None, [])
    assert "TerminationHook 'drain' is not a lifecycle hook of the Auto Scaling group asg" in missing
    launch = Hook("drain", "autoscaling:EC2_INSTANCE_LAUNCHING", 120, "CONTINUE")
    assert hook_rules.binding_problems(fine, launch, []) == [
        "TerminationHook 'drain' is a hook of autoscaling:EC2_INSTANCE_LAUNCHING, not of"
        " autoscaling:EC2_INSTANCE_TERMINATING."
    ]
    slow = parse({"Cluster": "w", "AutoScalingGroup": "asg", "TerminationHook": "drain", "PollIntervalSeconds": 90})
    [said] = hook_rules.binding_problems(slow, Hook("drain", TERMINATING, 120, "CONTINUE"), [])
    assert said.startswith("PollIntervalSeconds 90 is more than half the HeartbeatTimeout 120") and "60 or less" in said
    long = parse({"Cluster": "w", "AutoScalingGroup": "asg", "TerminationHook": "drain", "DrainTimeoutSeconds": 20000})
    [said] = hook_rules.binding_problems(long, Hook("drain", TERMINATING, 120, "CONTINUE"), [])
    assert (
        said.startswith("DrainTimeoutSeconds 20000 is longer than the hook 'drain' can hold")
        and "at most 11880" in said
    )


def test_it_records_a_heartbeat_every_half_timeout_and_continues_only_a_drain_that_succeeded() -> None:
    assert hook_rules.heartbeat_due(None, 1000.0, 120)
    assert not hook_rules.heartbeat_due(1000.0, 1059.0, 120) and hook_rules.heartbeat_due(1000.0, 1060.0, 120)
    assert hook_rules.lifecycle_result("SUCCESS") == "CONTINUE"
    assert hook_rules.lifecycle_result("FAILED") == "ABANDON"


def test_it_refuses_a_hook_on_a_group_ecs_managed_draining_drains_already() -> None:
    fine = parse({"Cluster": "w", "AutoScalingGroup": "asg", "TerminationHook": "drain"})
    [said] = hook_rules.binding_problems(fine, Hook("drain", TERMINATING, 120, "CONTINUE"), ["asg-provider"])
    assert "capacity provider asg-provider's, whose ECS managed instance draining" in said
    assert "managedDraining to DISABLED" in said


def test_it_binds_a_launch_hook_that_holds_a_new_instance_through_its_check_and_says_how_long_it_must() -> None:
    fine = parse({"Cluster": "w", "AutoScalingGroup": "asg", "LaunchHook": "check", "PreflightTimeoutSeconds": 600})
    assert hook_rules.launch_hold_seconds(fine) == 15 + 600 + 120
    assert hook_rules.launch_binding_problems(fine, Hook("check", LAUNCHING, 735, "ABANDON")) == []
    [short] = hook_rules.launch_binding_problems(fine, Hook("check", LAUNCHING, 734, "ABANDON"))
    assert short.startswith("LaunchHook 'check': its HeartbeatTimeout 734 would let a new instance go")
    assert "set the hook's HeartbeatTimeout to 735 or more, or lower PreflightTimeoutSeconds" in short
    [missing] = hook_rules.launch_binding_problems(fine, None)
    assert missing == (
        "LaunchHook 'check' is not a lifecycle hook of the Auto Scaling group asg: declare it in the group's"
        " LifecycleHookSpecificationList (LifecycleTransition autoscaling:EC2_INSTANCE_LAUNCHING)."
    )
    [wrong] = hook_rules.launch_binding_problems(fine, Hook("check", TERMINATING, 3600, "ABANDON"))
    assert wrong == f"LaunchHook 'check' is a hook of {TERMINATING}, not of {LAUNCHING}."
