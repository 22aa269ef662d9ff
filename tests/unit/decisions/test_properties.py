from __future__ import annotations

import pytest

from ecs_drain.decisions.properties import (
    DEFAULT_DRAIN_TIMEOUT_SECONDS,
    MAX_DRAIN_TIMEOUT_SECONDS,
    MAX_MANUAL_DRAIN_SECONDS,
    InvalidProperties,
    is_ours,
    on_timeout_policy,
    parse,
    physical_resource_id,
)

FLEET = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
OTHER_FLEET = "sfr-9f8e7d6c-5b4a-4321-8fed-cba987654321"


def problems(raw: dict[str, object]) -> str:
    with pytest.raises(InvalidProperties) as error:
        parse(raw)
    return str(error.value)


def test_it_applies_the_documented_defaults() -> None:
    props = parse({"Cluster": "web", "SpotFleet": FLEET})
    assert props.drain_timeout_seconds == DEFAULT_DRAIN_TIMEOUT_SECONDS
    assert props.poll_interval_seconds == 15
    assert (props.on_timeout, props.standalone_tasks, props.wait_for_capacity) == ("CONTINUE", "WAIT", True)


def test_it_accepts_numbers_and_booleans_as_cloudformation_sends_them() -> None:
    props = parse(
        {
            "Cluster": "web",
            "Fleet": "fleet-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "DrainTimeoutSeconds": "1800",
            "PollIntervalSeconds": 30,
            "WaitForCapacity": "False",
            "OnTimeout": "fail",
            "StandaloneTasks": "stop",
        }
    )
    assert (props.drain_timeout_seconds, props.poll_interval_seconds, props.wait_for_capacity) == (1800, 30, False)
    assert (props.on_timeout, props.standalone_tasks) == ("FAIL", "STOP")


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"SpotFleet": FLEET}, "Cluster is required"),
        ({"Cluster": "web"}, "Exactly one target"),
        ({"Cluster": "web", "SpotFleet": FLEET, "AutoScalingGroup": "asg"}, "Exactly one target"),
        ({"Cluster": "web", "SpotFleet": "fleet-123"}, "SpotFleet"),
        ({"Cluster": "web", "Fleet": "sfr-123"}, "Fleet"),
        ({"Cluster": "web", "InstanceIds": ["i-123", "x"]}, "InstanceIds"),
        ({"Cluster": "web space", "SpotFleet": FLEET}, "Cluster"),
        ({"Cluster": "web", "SpotFleet": FLEET, "DrainTimeoutSeconds": "ten"}, "DrainTimeoutSeconds"),
        ({"Cluster": "web", "SpotFleet": FLEET, "DrainTimeoutSeconds": "3600"}, "DrainTimeoutSeconds must be from"),
        ({"Cluster": "web", "SpotFleet": FLEET, "PollIntervalSeconds": "1"}, "PollIntervalSeconds"),
        ({"Cluster": "web", "SpotFleet": FLEET, "OnTimeout": "IGNORE"}, "OnTimeout must be CONTINUE, FAIL or ABANDON"),
        ({"Cluster": "web", "SpotFleet": FLEET, "StandaloneTasks": "KILL"}, "StandaloneTasks must be WAIT or STOP"),
        ({"Cluster": "web", "SpotFleet": FLEET, "WaitForCapacity": "maybe"}, "WaitForCapacity"),
        ({"Cluster": "web", "SpotFleet": FLEET, "Clustr": "x"}, "Unknown properties Clustr: allowed are"),
        ({"Cluster": "web", "InstanceIds": []}, "InstanceIds must be a non-empty list of EC2 instance ids"),
        ({"Cluster": "web", "SpotFleet": FLEET, "AutoScalingGroup": "a"}, "got SpotFleet and AutoScalingGroup."),
        (
            {"Cluster": "web", "SpotFleet": FLEET, "OnTimeout": "x"},
            "OnTimeout must be CONTINUE, FAIL or ABANDON; got 'x'.",
        ),
    ],
)
def test_it_refuses_bad_properties_naming_the_property(raw: dict[str, object], named: str) -> None:
    assert named in problems(raw)


def test_it_explains_why_a_long_timeout_is_refused() -> None:
    message = problems(
        {"Cluster": "web", "SpotFleet": FLEET, "DrainTimeoutSeconds": str(MAX_DRAIN_TIMEOUT_SECONDS + 1)}
    )
    assert "3600 s" in message


def test_it_keeps_the_deadline_inside_a_shorter_service_timeout() -> None:
    assert parse({"Cluster": "web", "SpotFleet": FLEET, "ServiceTimeout": "1200"}).drain_timeout_seconds == 1020
    said = problems({"Cluster": "web", "SpotFleet": FLEET, "ServiceTimeout": "300", "DrainTimeoutSeconds": "200"})
    # The limit it names is the stack's ServiceTimeout, not CloudFormation's hour.
    assert (
        "DrainTimeoutSeconds must be from 60 to 120 (to leave 180 s to answer CloudFormation within the stack's "
        in said
    )
    assert "ServiceTimeout 300); got 200." in said and "3600" not in said


def test_it_reports_every_problem_at_once() -> None:
    message = problems({"OnTimeout": "x", "PollIntervalSeconds": "0"})
    assert all(name in message for name in ("Cluster", "target", "OnTimeout", "PollIntervalSeconds"))


def test_it_has_no_deadline_when_started_by_hand_without_one() -> None:
    assert parse({"Cluster": "web", "SpotFleet": FLEET}, from_cloudformation=False).drain_timeout_seconds is None
    assert (
        parse(
            {"Cluster": "web", "SpotFleet": FLEET, "DrainTimeoutSeconds": 86400, "PollIntervalSeconds": 60},
            from_cloudformation=False,
        ).drain_timeout_seconds
        == 86400
    )


def test_it_changes_the_physical_id_exactly_when_cluster_or_target_change() -> None:
    base = physical_resource_id(parse({"Cluster": "web", "SpotFleet": FLEET}))
    assert is_ours(base)
    assert (
        physical_resource_id(
            parse(
                {
                    "Cluster": "web",
                    "SpotFleet": FLEET,
                    "OnTimeout": "FAIL",
                    "DrainTimeoutSeconds": 600,
                    "WaitForCapacity": False,
                }
            )
        )
        == base
    )
    arn = "arn:aws:ecs:us-east-1:123456789012:cluster/web"
    assert physical_resource_id(parse({"Cluster": arn, "SpotFleet": FLEET})) == base
    assert physical_resource_id(parse({"Cluster": "web", "SpotFleet": OTHER_FLEET})) != base
    assert physical_resource_id(parse({"Cluster": "api", "SpotFleet": FLEET})) != base


def test_it_names_instance_lists_by_content_not_order() -> None:
    a = physical_resource_id(parse({"Cluster": "web", "InstanceIds": ["i-0123456789abcdef0", "i-12345678"]}))
    b = physical_resource_id(parse({"Cluster": "web", "InstanceIds": "i-12345678, i-0123456789abcdef0"}))
    c = physical_resource_id(parse({"Cluster": "web", "InstanceIds": ["i-12345678"]}))
    assert a == b != c


def test_it_recognises_only_its_own_physical_ids() -> None:
    assert not is_ours("web-cluster_ECSDrain_K3J9Q2XZ")
    assert not is_ours(None)
    assert is_ours("ecs-drain:web:AutoScalingGroup:asg")


def test_it_accepts_an_auto_scaling_group_arn_as_its_name() -> None:
    arn = (
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1a2b3c4d-0000-1111-2222-333344445555:"
        "autoScalingGroupName/web-asg"
    )
    assert parse({"Cluster": "web", "AutoScalingGroup": arn}).target == ("web-asg",)


def test_it_validates_blocked_timeout_seconds_naming_the_property() -> None:
    base = {"Cluster": "web", "SpotFleet": "sfr-12345678-1234-1234-1234-123456789012"}
    assert parse(base).blocked_timeout_seconds is None  # default: wait to the deadline
    assert parse({**base, "BlockedTimeoutSeconds": "300"}).blocked_timeout_seconds == 300
    for bad, says in (("30", "from 60 to 3300"), ("soon", "whole number"), ("900", "from 60 to 600")):
        extra = {"DrainTimeoutSeconds": "600"} if bad == "900" else {}
        with pytest.raises(InvalidProperties) as raised:
            parse({**base, **extra, "BlockedTimeoutSeconds": bad})
        assert "BlockedTimeoutSeconds" in str(raised.value) and says in str(raised.value)


def test_it_checks_the_new_capacity_on_a_replacing_update_by_default_for_up_to_fifteen_minutes() -> None:
    props = parse({"Cluster": "web", "SpotFleet": FLEET})
    assert (props.preflight, props.preflight_timeout_seconds) == ("FAIL", 900)
    assert parse({"Cluster": "web", "SpotFleet": FLEET, "Preflight": "report"}).preflight == "REPORT"
    assert physical_resource_id(parse({"Cluster": "web", "SpotFleet": FLEET, "Preflight": "OFF"})) == (
        physical_resource_id(props)  # a policy: changing it is an in-place update
    )


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"Preflight": "ON"}, "Preflight"),
        ({"PreflightTimeoutSeconds": "30"}, "PreflightTimeoutSeconds"),
        ({"PreflightTimeoutSeconds": "3500"}, "PreflightTimeoutSeconds"),
        ({"PreflightTimeoutSeconds": "700", "ServiceTimeout": "600"}, "PreflightTimeoutSeconds"),
    ],
)
def test_it_names_a_preflight_property_it_refuses(given: dict[str, object], said: str) -> None:
    assert said in problems({"Cluster": "web", "SpotFleet": FLEET, **given})


def test_it_shortens_the_default_preflight_to_fit_a_short_service_timeout() -> None:
    props = parse({"Cluster": "web", "SpotFleet": FLEET, "ServiceTimeout": "600"})
    assert props.preflight_timeout_seconds == 600 - 180


def test_it_lets_a_drain_by_hand_last_seven_days_whatever_its_poll_and_refuses_longer_saying_why() -> None:
    """A drain that outlasts one execution's history goes on in the next: the poll interval no longer bounds it."""
    quick = parse({"Cluster": "web", "InstanceIds": ["i-0123456789abcdef0"], "PollIntervalSeconds": 5,
                   "DrainTimeoutSeconds": 7 * 86400}, from_cloudformation=False)  # fmt: skip
    assert quick.drain_timeout_seconds == MAX_MANUAL_DRAIN_SECONDS == 604_800
    with pytest.raises(InvalidProperties, match=r"DrainTimeoutSeconds must be from 60 to 604800 \(a drain by hand"):
        parse({"Cluster": "web", "InstanceIds": ["i-0123456789abcdef0"], "DrainTimeoutSeconds": 604_801},
              from_cloudformation=False)  # fmt: skip


def test_it_takes_a_termination_hook_with_an_auto_scaling_group_and_a_longer_drain_for_its_drains() -> None:
    props = parse(
        {"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain", "DrainTimeoutSeconds": 7200}
    )
    assert props.termination_hook == "drain"
    # The hook's drains take the 2 hours given; a Delete's drain still ends within CloudFormation's wait.
    assert props.hook_drain_timeout_seconds == 7200
    assert props.drain_timeout_seconds == MAX_DRAIN_TIMEOUT_SECONDS
    # Without DrainTimeoutSeconds: the hook's drains last as the hook allows, a Delete's as before.
    plain = parse({"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain"})
    assert (plain.hook_drain_timeout_seconds, plain.drain_timeout_seconds) == (None, DEFAULT_DRAIN_TIMEOUT_SECONDS)


def test_it_takes_a_launch_hook_beside_the_termination_hook_of_the_same_group() -> None:
    props = parse({"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain", "LaunchHook": "check"})
    assert (props.termination_hook, props.launch_hook) == ("drain", "check")
    assert parse({"Cluster": "web", "AutoScalingGroup": "asg", "LaunchHook": "check"}).termination_hook is None


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            {"Cluster": "web", "SpotFleet": FLEET, "TerminationHook": "drain"},
            "TerminationHook is a lifecycle hook of an Auto Scaling group: give AutoScalingGroup, not SpotFleet.",
        ),
        (
            {"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "a hook"},
            "TerminationHook 'a hook' is not a lifecycle hook name",
        ),
        (
            {"Cluster": "web", "AutoScalingGroup": "asg", "TerminationHook": "drain", "DrainTimeoutSeconds": 200000},
            "DrainTimeoutSeconds must be from 60 to 172800 (a termination hook's drain lasts 48 hours at most; a"
            " Delete's drain still ends to leave 180 s to answer CloudFormation before its 3600 s limit)",
        ),
        (
            {"Cluster": "web", "AutoScalingGroup": "asg", "DrainTimeoutSeconds": 7200},
            "DrainTimeoutSeconds must be from 60 to 3420",
        ),
        (
            {"Cluster": "web", "Fleet": "fleet-11111111-2222-3333-4444-555555555555", "LaunchHook": "check"},
            "LaunchHook is a lifecycle hook of an Auto Scaling group: give AutoScalingGroup, not Fleet.",
        ),
        (
            {"Cluster": "web", "AutoScalingGroup": "asg", "LaunchHook": "check", "TerminationHook": "check"},
            "TerminationHook and LaunchHook both name 'check': a hook has one transition",
        ),
    ],
)
def test_it_refuses_a_hook_it_cannot_use_naming_the_property(raw: dict[str, object], said: str) -> None:
    assert said in problems(raw)


def test_it_reads_abandon_as_the_fail_policy() -> None:
    assert parse({"Cluster": "web", "SpotFleet": FLEET, "OnTimeout": "abandon"}).on_timeout == "ABANDON"
    assert on_timeout_policy({"OnTimeout": "ABANDON"}) == "FAIL"
