"""A launch hook's check decided: what the new launch configuration changes, judged as ECS places tasks."""

from __future__ import annotations

from ecs_drain.decisions.launch_rules import ServiceOnGroup, launch_findings, launch_verdict
from ecs_drain.decisions.placement import TaskNeeds
from ecs_drain.model.container_instance import InstanceFacts
from ecs_drain.model.state import Cause, PreflightPhase, PreflightState, no_instances


def instance(
    name: str, kind: str = "m5.large", zone: str = "eu-west-1a", memory: int = 7680, **extra: str
) -> InstanceFacts:
    attributes = {"ecs.instance-type": kind, "ecs.availability-zone": zone, "ecs.os-type": "linux", **extra}
    return InstanceFacts(name, f"i-{name}", "ACTIVE", True, registered_cpu=2048, registered_memory=memory,
                         attributes=attributes)  # fmt: skip


def on_group(needs: TaskNeeds, *hosts: InstanceFacts) -> ServiceOnGroup:
    return ServiceOnGroup(needs, 2 * len(hosts), hosts)


def test_it_fails_a_service_whose_constraint_the_new_images_attributes_no_longer_meet_naming_the_rule() -> None:
    web = TaskNeeds("web", cpu=256, memory=512, member_of=("attribute:tier == web",))
    old = instance("old", tier="web")
    [found] = launch_findings([on_group(web, old)], [instance("new")])
    assert (found.cause, found.subject, found.tasks) == (Cause.CANNOT_PLACE, "service web", 2)
    assert "ECS would place none of them on the new instances (i-new:" in found.detail
    assert "memberOf(attribute:tier == web)" in found.detail
    assert launch_findings([on_group(web, old)], [instance("new", tier="web")]) == []


def test_it_never_fails_a_new_instance_for_its_zone_or_for_the_size_of_another_type() -> None:
    zoned = TaskNeeds("zoned", cpu=256, memory=512, member_of=("attribute:ecs.availability-zone == eu-west-1a",))
    big = TaskNeeds("big", cpu=256, memory=6000)
    hosts = (instance("old"),)
    new = [instance("new", kind="c5.large", zone="eu-west-1b", memory=3500)]
    # The zone is where an instance is, taken from a host; a c5.large's size is the drain's to judge, not the check's.
    assert launch_findings([on_group(zoned, *hosts), on_group(big, *hosts)], new) == []


def test_it_fails_a_new_image_that_registers_less_memory_than_a_task_needs_on_the_same_type() -> None:
    big = TaskNeeds("big", cpu=256, memory=7000)
    [found] = launch_findings([on_group(big, instance("old"))], [instance("new", memory=6900)])
    assert found.cause == Cause.CANNOT_PLACE and "7000 MiB" in found.detail
    # One new instance of the batch that takes it is enough.
    assert launch_findings([on_group(big, instance("old"))], [instance("a", memory=6900), instance("b")]) == []


def test_it_leaves_alone_a_rule_the_services_own_hosts_fail_today_and_warns_where_it_cannot_judge() -> None:
    stale = TaskNeeds("stale", cpu=256, memory=512, member_of=("attribute:tier == web",))
    assert launch_findings([on_group(stale, instance("old"))], [instance("new")]) == []
    odd = TaskNeeds("odd", cpu=256, memory=512, member_of=("attribute:tier ~= web",))
    [found] = launch_findings([on_group(odd, instance("old", tier="web"))], [instance("new")])
    assert found.cause == Cause.NOT_JUDGED and found.detail.startswith("whether the new instances take its tasks")


def checked(phase: PreflightPhase, waiting: list[str], message: str = "") -> PreflightState:
    return {
        "phase": phase, "startedAt": 100.0, "deadline": 1000.0, "checks": 3, "maxChecks": 61,
        "nextCheckInSeconds": 0, "over": True, "newTarget": "InstanceIds", "oldTarget": "AutoScalingGroup asg",
        "newInstances": no_instances() | {"ready": 2}, "waitingFor": waiting, "services": [], "diagnosis": [],
        "message": message,
    }  # fmt: skip


def test_it_says_a_launch_checks_verdict_as_what_happens_to_the_new_instances_and_the_refresh() -> None:
    passed = launch_verdict(checked(PreflightPhase.PASSED, []), "asg")["message"]
    assert passed.startswith("Launch check passed: 2 instances of InstanceIds launched by the Auto Scaling group asg")
    assert "CONTINUE (they go InService)" in passed
    late = launch_verdict(checked(PreflightPhase.DEADLINE, ["1 of the 2 instances never registered"]), "asg")
    assert late["message"].startswith("Launch check failed: after 900 s (PreflightTimeoutSeconds) it was still")
    assert "completed with ABANDON (the group terminates them)" in late["message"]
    unchecked = launch_verdict(checked(PreflightPhase.DEADLINE, [], "Preflight failed: throttled"), "asg")
    assert unchecked["message"].startswith("Launch check: Preflight failed: throttled")
    waiting = checked(PreflightPhase.WAITING_FOR_INSTANCES, ["x"], "Preflight: waiting")
    assert launch_verdict(waiting, "asg") == waiting
