"""The preflight's steps on a fake ECS: a look at the new target's instances, then the verdict while CloudFormation can
still roll back; and `ecs-drain check`'s assessment of a target."""

from __future__ import annotations

from ecs_drain.decisions import rule
from ecs_drain.decisions.properties import DrainProperties, parse
from ecs_drain.model.state import (
    Cause,
    PreflightPhase,
    PreflightState,
)
from ecs_drain.steps import preflight
from tests.fakes import FakeEcs, clients

OLD, NEW = "0000000a", "0000000b"  # container instance ids; the fake's EC2 ids are i-<id>
NOW = 1000.0


def target(instance: str) -> DrainProperties:
    return parse({"Cluster": "web", "InstanceIds": [f"i-{instance}"]})


def old_web_tasks(ecs: FakeEcs, tasks: int = 2) -> None:
    ecs.add_instance(OLD)
    for n in range(tasks):
        ecs.add_task(OLD, f"web-{n}")


def look(ecs: FakeEcs) -> PreflightState:
    before = rule.new_preflight(target(NEW), target(OLD), NOW, NOW)
    return preflight.check(before, target(NEW), target(OLD), clients(ecs), NOW + 15)


def test_it_waits_for_new_instances_that_have_not_registered_yet() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    after = look(ecs)
    assert after["phase"] == PreflightPhase.WAITING_FOR_INSTANCES
    assert after["newInstances"] == {"listed": 1, "registered": 0, "ready": 0, "daemonsRunning": 0}
    assert "never registered in cluster web (i-0000000b)" in after["waitingFor"][0]
    assert after["nextCheckInSeconds"] > 0


def test_it_passes_when_the_new_instances_take_every_old_task() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.add_instance(NEW)
    after = look(ecs)
    assert after["phase"] == PreflightPhase.PASSED, after["message"]
    assert after["services"] == [{"service": "web", "tasks": 2, "placed": 2}]
    assert after["message"].startswith("Preflight passed: 1 instance of")
    assert ecs.calls["UpdateContainerInstancesState"] == ecs.calls["StopTask"] == 0  # the preflight only reads


def test_it_fails_naming_the_service_whose_tasks_fit_nowhere() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs, tasks=3)
    ecs.add_instance(NEW, cpu=512)  # room for two tasks of 256 CPU units, not three
    after = look(ecs)
    assert after["phase"] == PreflightPhase.FAILED
    assert after["services"] == [{"service": "web", "tasks": 3, "placed": 2}]
    [finding] = after["diagnosis"]
    assert (finding["cause"], finding["subject"], finding["tasks"]) == (Cause.CANNOT_PLACE, "service web", 1)
    assert "would not finish" in after["message"]


def test_it_fails_at_once_for_a_service_that_may_neither_start_nor_stop_a_task() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.service_fields["web"] = {"deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 100}}
    after = look(ecs)  # the new instances have not even registered: capacity cannot fix this
    assert after["phase"] == PreflightPhase.FAILED
    assert [f["cause"] for f in after["diagnosis"]] == [Cause.DEPLOYMENT_CONFIGURATION]


def test_it_waits_for_a_daemon_task_on_every_new_instance() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.add_task(OLD, "agent-old", group="service:log-agent")
    ecs.daemons = {"log-agent"}
    ecs.add_instance(NEW)
    after = look(ecs)
    assert after["phase"] == PreflightPhase.WAITING_FOR_INSTANCES
    assert after["newInstances"]["ready"] == 1 and after["newInstances"]["daemonsRunning"] == 0
    assert after["waitingFor"][0].startswith("daemon service log-agent has no RUNNING task on 1 new instances")
    ecs.add_task(NEW, "agent-new", group="service:log-agent")
    assert look(ecs)["phase"] == PreflightPhase.PASSED


def test_it_assesses_a_target_against_every_other_active_instance() -> None:
    ecs = FakeEcs()
    old_web_tasks(ecs)
    ecs.add_instance(NEW, cpu=256)
    verdict = preflight.assess(target(OLD), clients(ecs), NOW)
    assert (verdict.instances, verdict.finishes) == (1, False)
    assert verdict.services == [{"service": "web", "tasks": 2, "placed": 1}]
    ecs.add_instance("0000000c")
    assert preflight.assess(target(OLD), clients(ecs), NOW).finishes
