from __future__ import annotations

from ecs_drain.decisions import outcome
from ecs_drain.model.state import ExecutionState, Phase, execution_state, new_state


def state(phase: Phase, on_timeout: str = "CONTINUE") -> ExecutionState:
    drain = new_state("web", 0.0, 3300.0, 222)
    drain["phase"] = phase
    drain["message"] = "Drained 2 container instances." if phase == "DRAINED" else "Deadline reached."
    drain["pendingCount"] = 1
    drain["checks"] = 4
    drain["remaining"] = [
        {"ec2InstanceId": "i-1", "containerInstance": "c1", "status": "DRAINING", "tasks": 2, "stopping": 1}
    ]
    drain["summary"] = {"instances": 2, "tasksAtStart": 5, "drained": 1, "tasksRemaining": 2, "seconds": 60}
    drain["timeline"] = {"startedAt": 0, "drainingSetAt": 10, "endedAt": 60}
    return execution_state(
        {"Properties": {"Cluster": "web", "OnTimeout": on_timeout}, "Mode": "drain", "step": {"drain": drain}}
    )


def test_it_answers_success_when_drained() -> None:
    result = outcome.of_state(state(Phase.DRAINED))
    assert (result.status, result.outcome) == ("SUCCESS", "DRAINED")


def test_it_follows_on_timeout_at_the_deadline() -> None:
    assert outcome.of_state(state(Phase.DEADLINE, "CONTINUE")).status == "SUCCESS"
    failed = outcome.of_state(state(Phase.DEADLINE, "FAIL"))
    assert failed.status == "FAILED"
    assert "tries this Delete three times" in failed.reason and "DELETE_FAILED" in failed.reason


def test_it_treats_the_bound_on_checks_as_the_deadline_and_names_what_still_runs() -> None:
    result = outcome.of_state(state(Phase.DRAINING, "FAIL"))
    assert result.status == "FAILED"
    assert "i-1 (DRAINING): 2 tasks, 1 stopping" in result.reason


def test_it_answers_a_failed_step_as_on_timeout_says_with_the_error() -> None:
    failed = state(Phase.DRAINING, "FAIL")
    failed["step"]["error"] = {"Error": "Runtime.ExitError", "Cause": "boom"}
    result = outcome.of_state(failed)
    assert result.status == "FAILED"
    assert "Runtime.ExitError" in result.reason


def test_it_answers_a_failure_before_planning_from_the_input_policy() -> None:
    result = outcome.of_state(
        execution_state(
            {"Properties": {"Cluster": "web", "OnTimeout": "fail"}, "step": {"error": {"Error": "X", "Cause": "y"}}}
        )
    )
    assert result.status == "FAILED"


def test_it_reports_an_aborted_execution_by_name() -> None:
    result = outcome.of_ended_execution(
        "ABORTED", "web-ECSDrain-1", execution_state({"Properties": {"OnTimeout": "CONTINUE"}})
    )
    assert result.status == "SUCCESS"
    assert "web-ECSDrain-1 ended ABORTED" in result.reason


def test_it_summarises_phase_durations() -> None:
    summary = outcome.summary(state(Phase.DRAINED), outcome.of_state(state(Phase.DRAINED)), answered=True)
    assert summary["phaseSeconds"] == {"draining": 50}
    assert summary["stillRunning"] == []
    assert summary["answeredCloudFormation"] is True


def preflight(phase: str, mode: str = "FAIL", error: bool = False) -> ExecutionState:
    checked = {
        "phase": phase,
        "startedAt": 0.0,
        "deadline": 900.0,
        "checks": 3,
        "maxChecks": 62,
        "nextCheckInSeconds": 0,
        "newTarget": "SpotFleet sfr-new",
        "oldTarget": "SpotFleet sfr-old",
        "newInstances": {"listed": 3, "registered": 3, "ready": 3, "daemonsRunning": 3},
        "waitingFor": [],
        "services": [{"service": "web", "tasks": 6, "placed": 6 if phase == "PASSED" else 3}],
        "diagnosis": [],
        "message": f"Preflight {phase.lower()}.",
    }
    step: dict[str, object] = {"preflight": checked}
    if error:
        step["error"] = {"Error": "States.Timeout", "Cause": "the step timed out"}
    data: dict[str, object] = {
        "Properties": {"Cluster": "web", "Preflight": mode},
        "Mode": "preflight",
        "CloudFormation": {"PhysicalResourceId": "ecs-drain:web:SpotFleet:sfr-old", "NewPhysicalResourceId": "new"},
        "step": step,
    }
    return execution_state(data)


def test_it_gives_the_new_id_and_data_only_to_a_preflight_that_passed() -> None:
    passed = outcome.of_state(preflight("PASSED"))
    assert (passed.status, passed.physical_resource_id, passed.outcome) == ("SUCCESS", "new", "PREFLIGHT_PASSED")
    assert passed.data["Room"] == "web 6 of 6" and passed.data["InstancesReady"] == "3"
    for phase in ("FAILED", "DEADLINE"):
        failed = outcome.of_state(preflight(phase))
        # The old id (the request's): CloudFormation rolls back instead of taking the answer as a replacement.
        assert (failed.status, failed.physical_resource_id) == ("FAILED", "")


def test_it_lets_the_update_go_on_when_the_preflight_only_reports() -> None:
    reported = outcome.of_state(preflight("FAILED", mode="REPORT"))
    assert (reported.status, reported.physical_resource_id, reported.outcome) == (
        "SUCCESS",
        "new",
        "PREFLIGHT_REPORTED",
    )
    assert reported.reason.startswith("Preflight=REPORT, so the update goes on. Preflight failed.")


def test_it_fails_a_preflight_it_could_not_run_or_that_ended_without_answering() -> None:
    could_not = outcome.of_state(preflight("WAITING_FOR_INSTANCES", error=True))
    assert could_not.status == "FAILED" and "rolled back rather than trusted" in could_not.reason
    ended = outcome.of_ended_execution("TIMED_OUT", "x-preflight-1", preflight("WAITING_FOR_INSTANCES"))
    assert (ended.status, ended.physical_resource_id) == ("FAILED", "")
    reported = outcome.of_ended_execution("ABORTED", "x", preflight("WAITING_FOR_INSTANCES", mode="REPORT"))
    assert (reported.status, reported.physical_resource_id) == ("SUCCESS", "new")
