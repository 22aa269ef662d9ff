"""A launch hook's check on a fake ECS: a look at the batch's new instances, then whether ECS would place the group's
service tasks on them; the verdict said as a launch hook's."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from mypy_boto3_autoscaling import AutoScalingClient

from ecs_drain.aws.clients import Clients
from ecs_drain.decisions.properties import parse
from ecs_drain.model.state import Cause, PreflightPhase, PreflightState
from ecs_drain.steps import launch_check
from tests.fakes import FakeBook, FakeEc2, FakeEcs

OLD, NEW = "0000000a", "0000000b"  # container instance ids; the fake's EC2 ids are i-<id>
NOW = 1000.0
EARLIER, LATER = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
BATCH = parse({"Cluster": "web", "InstanceIds": [f"i-{NEW}"]}, from_cloudformation=False)


class Group:
    """Auto Scaling's DescribeAutoScalingGroups for group asg: the old instance and the batch's."""

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:
        instances = [{"InstanceId": f"i-{OLD}"}, {"InstanceId": f"i-{NEW}"}]
        return {"AutoScalingGroups": [{"AutoScalingGroupName": "asg", "Instances": instances}]}


def look(ecs: FakeEcs) -> PreflightState:
    clients = Clients(ecs=ecs.client, ec2=cast("Any", FakeEc2([[]])), autoscaling=cast("AutoScalingClient", Group()))
    return launch_check.check(launch_check.new_check(BATCH, "asg", NOW, NOW), BATCH, "asg", clients, NOW + 15)


def old_web_tasks(ecs: FakeEcs, attributes: dict[str, str] | None = None) -> None:
    ecs.add_instance(OLD, attributes=attributes)
    for n in range(2):
        ecs.add_task(OLD, f"web-{n}")


def test_it_waits_for_the_new_instance_to_register() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    after = look(ecs)
    assert after["phase"] == PreflightPhase.WAITING_FOR_INSTANCES and after["oldTarget"] == "AutoScalingGroup asg"
    assert "never registered in cluster web (i-0000000b)" in after["waitingFor"][0]


def test_it_passes_a_ready_instance_that_takes_the_groups_tasks_and_only_reads() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.add_instance(NEW)
    after = look(ecs)
    assert after["phase"] == PreflightPhase.PASSED, after["message"]
    assert after["message"].startswith("Launch check passed: 1 instance of InstanceIds i-0000000b launched by")
    assert ecs.calls["UpdateContainerInstancesState"] == ecs.calls["StopTask"] == 0


def test_it_fails_a_ready_instance_whose_attributes_a_services_constraint_refuses() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs, {"tier": "web"})
    ecs.service_fields["web"] = {"placementConstraints": [{"type": "memberOf", "expression": "attribute:tier == web"}]}
    ecs.add_instance(NEW, attributes={"tier": "batch"})
    after = look(ecs)
    assert after["phase"] == PreflightPhase.FAILED
    [finding] = after["diagnosis"]
    assert (finding["cause"], finding["subject"], finding["tasks"]) == (Cause.CANNOT_PLACE, "service web", 2)
    assert after["message"].startswith("Launch check failed: InstanceIds i-0000000b launched by the Auto Scaling")
    assert "completed with ABANDON" in after["message"]


def test_it_says_a_check_whose_steps_kept_failing_to_its_deadline_judged_nothing() -> None:
    waiting = launch_check.new_check(BATCH, "asg", NOW, NOW) | {"waitingFor": ["1 of the 1 instances never registered"]}
    said = launch_check.give_up(waiting, RuntimeError("throttled"), "asg")
    assert said["phase"] == PreflightPhase.DEADLINE and said["waitingFor"] == []
    assert said["message"].startswith("Launch check: Preflight failed: the new capacity could not be checked")
    assert "completed with ABANDON" in said["message"]


def test_it_holds_the_batch_undecided_in_the_room_book_from_its_first_look_to_its_verdict() -> None:
    ecs, book = FakeEcs(), FakeBook()
    old_web_tasks(ecs)
    clients = replace(
        Clients(ecs=ecs.client, ec2=cast("Any", FakeEc2([[]])), autoscaling=cast("AutoScalingClient", Group())),
        room=cast("Any", book),
    )
    first = launch_check.check(launch_check.new_check(BATCH, "asg", NOW, NOW), BATCH, "asg", clients, NOW + 15)
    [claim] = book.claims.values()
    assert claim.undecided == {f"i-{NEW}"} and not claim.leaving and not claim.groups
    assert claim.by == "the launch check of 1 instance of Auto Scaling group asg (not room until it passes)"
    ecs.add_instance(NEW)
    passed = launch_check.check(first, BATCH, "asg", clients, NOW + 30)
    assert passed["phase"] == PreflightPhase.PASSED and book.claims == {}  # room now, for every drain


def test_it_judges_an_instance_whose_root_volume_was_replaced_by_its_latest_registration() -> None:
    """An instance refresh's ReplaceRootVolume: the instance comes back through the launch hook, its agent registers
    anew; the registration before (DRAINING, disconnected) is left as ECS keeps it, and does not hold the check."""
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.add_instance("0000000c", status="DRAINING")  # the registration before the root volume was replaced
    ecs.instances["0000000c"] |= {"ec2InstanceId": f"i-{NEW}", "agentConnected": False, "registeredAt": EARLIER}
    ecs.add_instance(NEW)
    ecs.instances[NEW]["registeredAt"] = LATER
    after = look(ecs)
    assert after["phase"] == PreflightPhase.PASSED, after["waitingFor"]
    assert after["newInstances"]["registered"] == 1
