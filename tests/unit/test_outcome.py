from __future__ import annotations

from ecs_drain import outcome
from ecs_drain.state import ExecutionState, Phase, execution_state, new_state


def state(phase: Phase, on_timeout: str = "CONTINUE") -> ExecutionState:
    drain = new_state("web", 0.0, 3300.0, 222, 3300.0)
    drain["phase"] = phase
    drain["message"] = "Drained 2 container instances." if phase == "DRAINED" else "Deadline reached."
    drain["pendingCount"] = 1
    drain["checks"] = 4
    drain["remaining"] = [
        {"ec2InstanceId": "i-1", "containerInstance": "c1", "status": "DRAINING", "tasks": 2, "stopping": 1}
    ]
    drain["summary"] = {"instances": 2, "tasksAtStart": 5, "drained": 1, "tasksRemaining": 2, "seconds": 60}
    drain["timeline"] = {"startedAt": 0, "drainingSetAt": 10, "endedAt": 60}
    return execution_state({"Cluster": "web", "OnTimeout": on_timeout, "drain": drain})


def test_it_answers_success_when_drained() -> None:
    result = outcome.of_state(state("DRAINED"))
    assert (result.status, result.outcome) == ("SUCCESS", "DRAINED")


def test_it_follows_on_timeout_at_the_deadline() -> None:
    assert outcome.of_state(state("DEADLINE", "CONTINUE")).status == "SUCCESS"
    failed = outcome.of_state(state("DEADLINE", "FAIL"))
    assert failed.status == "FAILED"
    assert "tries this Delete three times" in failed.reason and "DELETE_FAILED" in failed.reason


def test_it_treats_the_bound_on_checks_as_the_deadline_and_names_what_still_runs() -> None:
    result = outcome.of_state(state("DRAINING", "FAIL"))
    assert result.status == "FAILED"
    assert "i-1 (DRAINING): 2 tasks, 1 stopping" in result.reason


def test_it_answers_a_failed_step_as_on_timeout_says_with_the_error() -> None:
    failed = state("DRAINING", "FAIL")
    failed["error"] = {"Error": "Runtime.ExitError", "Cause": "boom"}
    result = outcome.of_state(failed)
    assert result.status == "FAILED"
    assert "Runtime.ExitError" in result.reason


def test_it_answers_a_failure_before_planning_from_the_input_policy() -> None:
    result = outcome.of_state(
        execution_state({"Cluster": "web", "OnTimeout": "fail", "error": {"Error": "X", "Cause": "y"}})
    )
    assert result.status == "FAILED"


def test_it_reports_an_aborted_execution_by_name() -> None:
    result = outcome.of_ended_execution("ABORTED", "web-ECSDrain-1", execution_state({"OnTimeout": "CONTINUE"}))
    assert result.status == "SUCCESS"
    assert "web-ECSDrain-1 ended ABORTED" in result.reason


def test_it_summarises_phase_durations() -> None:
    summary = outcome.summary(state("DRAINED"), outcome.of_state(state("DRAINED")), answered=True)
    assert summary["phaseSeconds"] == {"draining": 50}
    assert summary["stillRunning"] == []
    assert summary["answeredCloudFormation"] is True
