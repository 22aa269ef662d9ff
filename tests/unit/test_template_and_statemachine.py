"""The ASL and the template agree, and both follow the rules the project sets itself."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any, get_args, get_type_hints

from ecs_drain.aws import budget, cfn_answer, executions
from ecs_drain.aws import clients as aws
from ecs_drain.decisions import properties
from ecs_drain.model import state as drain_state
from ecs_drain.runtime import observability
from emulation import template as cfn

TEMPLATE = cfn.load()
_, SM_PROPS, ASL = cfn.state_machine(TEMPLATE)
STATES: dict[str, Any] = ASL["States"]
CHECK = "Set instances DRAINING and count the tasks left"
PREFLIGHT = "Check the new capacity"
GO_ON = "Go on in a new execution"
ANSWER_STATES = {n for n, s in STATES.items() if s["Type"] == "Task" and "AnswerFunctionArn" in json.dumps(s)}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = STATES[name]
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
    return seen


def test_it_defines_every_substitution_the_asl_uses() -> None:
    used = set(re.findall(r"\$\{([^}]+)\}", json.dumps(ASL)))
    assert used == set(SM_PROPS["DefinitionSubstitutions"])


def test_it_gives_every_state_a_comment_and_every_choice_a_default() -> None:
    assert all(state.get("Comment") for state in STATES.values())
    assert all("Default" in s for s in STATES.values() if s["Type"] == "Choice")


def test_it_retries_every_task_and_catches_into_an_answer() -> None:
    for name, state in STATES.items():
        if state["Type"] != "Task":
            continue
        assert state["Retry"], name
        assert state["Retry"][-1]["ErrorEquals"] == ["States.ALL"], name
        catch = state["Catch"][-1]
        assert catch["ErrorEquals"] == ["States.ALL"]
        if state["Resource"].endswith(".waitForTaskToken"):
            # The wait between checks: whatever happens, the next check comes (its own Catch answers).
            after = [c["Next"] for c in state["Catch"]]
            assert {STATES[n]["Next"] if STATES[n]["Type"] == "Wait" else n for n in after} == {CHECK}, name
        elif name == GO_ON:
            # Handing on failed: counted as a failed try, whose loop answers at the deadline.
            assert catch["Next"] == "Wait before trying the step again" and reachable(catch["Next"]) & ANSWER_STATES
        elif name not in ANSWER_STATES:
            assert any(c["Next"] in ANSWER_STATES for c in state["Catch"]), name


def test_it_gives_every_drain_function_step_the_same_retries_and_catches() -> None:
    check, preflight = STATES[CHECK], STATES[PREFLIGHT]
    assert check["Retry"] == preflight["Retry"]

    def uncommented(catches: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.items() if k != "Comment"} for c in catches]

    assert uncommented(preflight["Catch"]) == uncommented(check["Catch"])
    # The transient Lambda errors are the same list wherever a task retries them.
    transient = [
        {e for e in r["ErrorEquals"] if e.startswith("Lambda.")} for s in STATES.values() for r in s.get("Retry", [])
    ]
    assert len({frozenset(t) for t in transient if t}) == 1


def test_it_tries_a_failed_drain_step_again_instead_of_answering() -> None:
    """Our own trouble never answers early: only invalid properties reach the answer; everything else goes back,
    after a wait, to the step that failed (whose handler ends the drain at its deadline)."""
    for name in (CHECK, PREFLIGHT):
        catches = {c["ErrorEquals"][0]: c for c in STATES[name]["Catch"]}
        assert set(catches) == {"InvalidProperties", "States.ALL"}
        assert catches["InvalidProperties"]["Next"] in ANSWER_STATES
        again = STATES[catches["States.ALL"]["Next"]]
        assert again["Type"] == "Wait" and catches["States.ALL"]["ResultPath"] == "$.step.error"
        assert again["Seconds"] == drain_state.RETRY_WAIT_SECONDS
        # Every retrier of what is tried again lasts the same known time (no jitter): the count's unit.
        for retrier in STATES[name]["Retry"][1:]:
            waits = [retrier["IntervalSeconds"] * retrier["BackoffRate"] ** n for n in range(retrier["MaxAttempts"])]
            assert "JitterStrategy" not in retrier and sum(waits) == drain_state.QUICK_RETRY_SECONDS
        # Counted ($.step.failedTries), then answered only past $.step.maxFailedTries in a row; else back to the step.
        failed_tries = f"$.{drain_state.STEP_KEY}.{drain_state.FAILED_TRIES_KEY}"
        counting = STATES[again["Next"]]
        assert counting == {
            "Type": "Pass",
            "Comment": counting["Comment"],
            "Parameters": {
                "count.$": f"States.MathAdd({failed_tries}.count, 1)",
                "here.$": f"States.MathAdd({failed_tries}.here, 1)",
            },
            "ResultPath": failed_tries,
            "Next": "Have the failed tries outlasted the deadline?",
        }
        deadline = STATES[counting["Next"]]
        bound, go_on = deadline["Choices"]
        assert go_on == {
            "Variable": f"{failed_tries}.here",
            "NumericGreaterThanEquals": drain_state.FAILED_TRIES_PER_EXECUTION,
            "Next": "Number the next execution",
        }
        assert bound == {
            "Variable": f"{failed_tries}.count",
            "NumericGreaterThanEqualsPath": f"$.{drain_state.STEP_KEY}.{drain_state.MAX_FAILED_TRIES_KEY}",
            "Next": bound["Next"],
        }
        assert bound["Next"] in ANSWER_STATES
        # Else the step that failed is tried again: the start sends a preflight to its check, a drain to its own.
        assert deadline["Default"] == ASL["StartAt"] and name in reachable(ASL["StartAt"])


def test_it_counts_failed_tries_from_zero_in_every_input_and_every_steps_result() -> None:
    """The count has no first case of its own: each step's result, and each execution's input, start it at 0."""
    for name in (CHECK, PREFLIGHT):
        assert STATES[name]["ResultSelector"][drain_state.FAILED_TRIES_KEY] == drain_state.no_failed_tries(), name
    props = properties.parse({"Cluster": "web", "InstanceIds": ["i-0123456789abcdef0"]})
    drain = executions.drain_input({"Cluster": "web"}, props, 0.0, "d")
    preflight = executions.preflight_input({"Cluster": "web"}, {"Cluster": "web"}, props, 0.0, "p")
    assert drain["step"]["failedTries"] == preflight["step"]["failedTries"] == {"count": 0, "here": 0}


def test_it_goes_on_in_a_new_execution_named_after_the_first_with_its_state_exactly() -> None:
    """The chain: number the next execution, start its failed tries in a row at 0 (those toward the deadline carry
    on), start it with the whole state (it begins as any try again does, at the start) and end without answering."""
    numbering = STATES["Number the next execution"]
    assert numbering["Parameters"] == {"name.$": "$.Chain.name", "link.$": "States.MathAdd($.Chain.link, 1)"}
    assert numbering["ResultPath"] == f"$.{drain_state.CHAIN_KEY}"
    zero = STATES[numbering["Next"]]
    assert zero["Parameters"] == {"count.$": "$.step.failedTries.count", "here": 0}
    assert zero["ResultPath"] == "$.step.failedTries" and zero["Next"] == GO_ON
    task = STATES[GO_ON]
    assert task["Resource"] == "arn:aws:states:::states:startExecution"
    assert task["Parameters"] == {
        "StateMachineArn.$": "$$.StateMachine.Id",
        "Name.$": "States.Format('{}-{}', $.Chain.name, $.Chain.link)",
        "Input.$": "$",
    }
    assert task["ResultSelector"] == {"outcome": drain_state.WENT_ON, "wentOnIn.$": "$.ExecutionArn"}
    assert set(task["ResultSelector"]) - {"wentOnIn.$"} | {"wentOnIn"} == set(get_type_hints(drain_state.WentOnOutput))
    assert STATES[task["Next"]]["Type"] == "Succeed" and task["ResultPath"] == "$"
    assert drain_state.link_name({"name": "web-drain", "link": 3}) == "web-drain-3"
    # Only this state machine's own executions are started.
    [statement] = [s for _, s in policy_statements() if s.get("Sid") == "GoOnInANewExecution"]
    assert statement["Action"] == "states:StartExecution"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-drain"
    }


def test_it_keeps_room_in_one_executions_history_for_its_checks_and_failed_tries() -> None:
    assert drain_state.CHECKS_PER_EXECUTION == 1_538
    used = (
        drain_state.CHECKS_PER_EXECUTION * drain_state.HISTORY_EVENTS_PER_CHECK
        + drain_state.FAILED_TRIES_PER_EXECUTION * drain_state.HISTORY_EVENTS_PER_FAILED_TRY
    )
    assert used + drain_state.HISTORY_EVENTS_RESERVE <= drain_state.HISTORY_EVENTS_QUOTA


def test_it_starts_a_preflight_only_in_preflight_mode_and_gathers_a_hooks_instances_once() -> None:
    start = STATES[ASL["StartAt"]]
    [hook, preflight] = start["Choices"]
    assert preflight == {"Variable": "$.Mode", "StringEquals": drain_state.Mode.PREFLIGHT, "Next": PREFLIGHT}
    assert start["Default"] == CHECK and drain_state.MODE_KEY == "Mode"
    assert {str(mode) for mode in drain_state.Mode} == {"preflight", "drain"}
    # A hook's batch (a termination hook's drain, a launch hook's check) waits gatherSeconds, then gathers its batch:
    # once, not again in the next execution of its chain (which carries $.Lifecycle.gathered); then it is a drain or
    # a preflight, as its Mode says.
    key = drain_state.LIFECYCLE_KEY
    assert hook["And"] == [
        {"Variable": f"$.{key}", "IsPresent": True},
        {"Variable": f"$.{key}.gathered", "IsPresent": False},
    ]
    wait = STATES[hook["Next"]]
    assert wait["SecondsPath"] == f"$.{key}.gatherSeconds" and set(get_type_hints(drain_state.LifecycleBatch)) >= {
        "gatherSeconds",
        "gathered",
    }
    gather = STATES[wait["Next"]]
    assert gather["Parameters"]["Payload"]["Action"] == "gather" and gather["Next"] == ASL["StartAt"]
    assert gather["ResultPath"] == f"$.{key}.gathered"
    assert gather["ResultSelector"] == {"instanceIds.$": "$.Payload.instanceIds"}
    assert set(get_type_hints(drain_state.GatheredInstances)) == {"instanceIds"}


def test_it_times_each_task_out_with_its_function() -> None:
    timeouts = {f.logical_id: f.timeout for f in cfn.functions(TEMPLATE)}
    for name, task in STATES.items():
        if task["Type"] != "Task":
            continue
        if task["Resource"].endswith(".waitForTaskToken"):  # the wait between checks: the poll interval at most
            assert task["TimeoutSecondsPath"] == "$.step.drain.nextCheckInSeconds", name
            continue
        if name == GO_ON:  # Step Functions' own call
            assert task["TimeoutSeconds"] == 60
            continue
        function = "DrainFunction" if "DrainFunctionArn" in json.dumps(task) else "AnswerFunction"
        assert task["TimeoutSeconds"] == timeouts[function], name
    assert timeouts["DrainFunction"] == budget.DRAIN_STEP_TIMEOUT_SECONDS
    assert budget.DEFAULT_STEP_SECONDS <= budget.DRAIN_STEP_TIMEOUT_SECONDS / 5  # optional work ends far earlier


def test_it_outlives_the_longest_manual_drain() -> None:
    assert properties.MAX_MANUAL_DRAIN_SECONDS < ASL["TimeoutSeconds"] <= properties.MAX_MANUAL_DRAIN_SECONDS + 86400


def test_it_bounds_the_loop_by_the_checks_counter() -> None:
    choice = STATES["Is the drain over?"]
    bound = [c for c in choice["Choices"] if c.get("NumericGreaterThanEqualsPath") == "$.step.drain.maxChecks"]
    assert bound and bound[0]["Variable"] == "$.step.drain.checks"
    assert bound[0]["Next"] in ANSWER_STATES
    # The only way back into the loop goes through that choice.
    assert STATES["Wait before the next check"]["Next"] == "Set instances DRAINING and count the tasks left"
    assert STATES["Set instances DRAINING and count the tasks left"]["Next"] == "Is the drain over?"


def test_it_reaches_an_answer_from_every_state_before_it() -> None:
    after_answer = set().union(*(reachable(a) for a in ANSWER_STATES))
    for name in STATES:
        if STATES[name]["Type"] in ("Succeed", "Fail") or name in after_answer:
            continue
        assert reachable(name) & ANSWER_STATES, name


def test_it_reads_only_the_drain_fields_the_state_names() -> None:
    document = json.dumps(ASL)
    read = set(re.findall(r"\$\.step\.drain\.(\w+)", document))
    assert read == set(drain_state.ASL_FIELDS)
    assert read <= set(drain_state.DrainState.__annotations__)
    read = set(re.findall(r"\$\.step\.preflight\.(\w+)", document))
    assert read == set(drain_state.PREFLIGHT_ASL_FIELDS)
    assert read <= set(drain_state.PreflightState.__annotations__)
    read = set(re.findall(r"\$\.step\.(\w+)", document))
    assert read == set(drain_state.STEP_ASL_FIELDS) <= set(get_type_hints(drain_state.StepState))
    # Nothing else of the execution state is read or written but the mode, the answer's own output ($.outcome) and
    # its failure ($.answerError); $$.Execution is the context's.
    # the chain (Chain) and what starting the next execution returned (ExecutionArn), a hook's batch (Lifecycle).
    assert set(re.findall(r"(?<!\$)\$\.(\w+)", document)) == {
        "Mode",
        "step",
        "Payload",
        "outcome",
        "answerError",
        "Chain",
        "ExecutionArn",
        "Lifecycle",
    }


def test_it_puts_each_drain_tasks_result_under_step_as_its_handler_returns_it() -> None:
    for name, key in ((CHECK, "drain"), (PREFLIGHT, "preflight")):
        task = STATES[name]
        assert task["ResultPath"] == f"$.{drain_state.STEP_KEY}" and "OutputPath" not in task
        selected = {k.removesuffix(".$"): v for k, v in task["ResultSelector"].items()}
        assert selected == {
            key: f"$.Payload.{key}",
            "maxFailedTries": "$.Payload.maxFailedTries",
            "failedTries": {"count": 0, "here": 0},
        }
        returned = {k.removesuffix(".$") for k in task["ResultSelector"] if k.endswith(".$")}
        assert returned <= set(get_type_hints(drain_state.StepResult)) and set(selected) <= set(
            get_type_hints(drain_state.StepState)
        )
        assert all(c["ResultPath"] == f"$.{drain_state.STEP_KEY}.{drain_state.ERROR_KEY}" for c in task["Catch"])


def said_over(choice: dict[str, Any], kind: str) -> bool:
    """The choice answers when the step says the loop is over (and only where it says so)."""
    variable = f"$.step.{kind}.over"
    return bool(
        choice["And"]
        == [
            {"Variable": variable, "IsPresent": True},
            {"Variable": variable, "BooleanEquals": True},
        ]
    )


def test_it_ends_the_preflight_loop_on_its_final_phases_or_its_bound() -> None:
    over, bound = STATES["Is the preflight over?"]["Choices"]
    assert said_over(over, "preflight")
    assert set(drain_state.PREFLIGHT_FINAL_PHASES) <= set(drain_state.PreflightPhase)
    assert (bound["Variable"], bound["NumericGreaterThanEqualsPath"]) == (
        "$.step.preflight.checks",
        "$.step.preflight.maxChecks",
    )
    assert over["Next"] in ANSWER_STATES and bound["Next"] in ANSWER_STATES
    assert STATES["Wait before checking the new capacity again"]["Next"] == PREFLIGHT
    assert STATES[PREFLIGHT]["Next"] == "Is the preflight over?"


def test_it_ends_the_drain_loop_where_the_step_says_it_is_over_or_at_its_bound_and_checks_at_once_after_the_plan() -> (
    None
):
    over, bound, go_on, planned = STATES["Is the drain over?"]["Choices"]
    assert said_over(over, "drain") and over["Next"] in ANSWER_STATES
    assert go_on["And"] == [
        {"Variable": "$.step.drain.goOn", "IsPresent": True},
        {"Variable": "$.step.drain.goOn", "BooleanEquals": True},
    ]
    assert go_on["Next"] == "Number the next execution"
    assert (bound["Variable"], bound["NumericGreaterThanEqualsPath"], bound["Next"] in ANSWER_STATES) == (
        "$.step.drain.checks",
        "$.step.drain.maxChecks",
        True,
    )
    # The plan leaves nextCheckInSeconds at 0 (every check waits at least 1 s): the first check comes at once.
    assert planned == {"Variable": "$.step.drain.nextCheckInSeconds", "NumericEquals": 0, "Next": CHECK}
    assert STATES["Is the drain over?"]["Default"] == "Wait for the tasks to stop"
    assert set(drain_state.FINAL_PHASES) <= set(drain_state.Phase)


def test_it_retries_only_errors_its_function_can_raise() -> None:
    raised = {
        "DrainFunctionArn": {"InvalidProperties", "AwsThrottled", "BudgetUnavailable"},
        "AnswerFunctionArn": {"InsecureResponseUrl", "AnswerRejected"},
    }
    for name, task in STATES.items():
        if task["Type"] != "Task" or name == GO_ON:
            continue
        function = next(f for f in raised if f in json.dumps(task["Parameters"]))
        named = {e for r in task["Retry"] for e in r["ErrorEquals"] if "." not in e}
        waits = task["Parameters"]["Payload"].get("Action") == "wait"  # the wait raises nothing of its own
        assert named == (set() if waits else raised[function]), name
    # Each named error is a class of the function's package, under the name Step Functions reports.
    for name in raised["DrainFunctionArn"] | raised["AnswerFunctionArn"]:
        owner = next(m for m in (properties, aws, budget, cfn_answer) if hasattr(m, name))
        assert isinstance(getattr(owner, name), type) and issubclass(getattr(owner, name), Exception), name


def test_it_never_passes_the_response_url_through_the_state_machine() -> None:
    for state in STATES.values():
        assert "ResponseURL" not in json.dumps(state.get("Parameters", {}))


def test_it_points_every_handler_at_real_code() -> None:
    for function in cfn.functions(TEMPLATE):
        module, attribute = function.handler.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), attribute))


def policy_statements() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for logical_id, resource in TEMPLATE["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            out += [(logical_id, s) for s in policy.get("Statement", [])] if isinstance(policy, dict) else []
    return out


def test_it_grants_no_wildcard_action() -> None:
    for logical_id, statement in policy_statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in a for a in actions), (logical_id, actions)


def test_it_exports_the_service_token() -> None:
    assert TEMPLATE["Outputs"]["ServiceToken"]["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-ServiceToken"}


def test_it_alarms_on_a_drain_blocked_by_a_cause_ecs_cannot_resolve() -> None:
    alarm = TEMPLATE["Resources"]["DrainBlockedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("ECSDrain", "BlockingProblems")
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_it_names_the_response_parameters_with_one_prefix_everywhere() -> None:
    pattern = cfn_answer.PARAMETER_PREFIX_PATTERN
    custom = TEMPLATE["Resources"]["CustomResourceFunction"]["Properties"]
    assert custom["Environment"]["Variables"]["RESPONSE_PARAMETER_PREFIX"] == {"Fn::Sub": pattern}
    arns = [s["Resource"] for _, s in policy_statements() if any("ssm:" in a for a in _actions(s))]
    assert len(arns) == 2  # kept by the custom resource; read and forgotten by the answering function
    expected = {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + pattern + "*"}
    assert all(arn == expected for arn in arns)


def test_it_publishes_metrics_where_the_alarms_read_them() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert (variables["POWERTOOLS_SERVICE_NAME"], variables["POWERTOOLS_METRICS_NAMESPACE"]) == (
        observability.SERVICE,
        observability.NAMESPACE,
    )
    ours = [
        m.get("MetricStat", {}).get("Metric", m.get("MetricStat", {}))
        for r in TEMPLATE["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for m in r["Properties"].get("Metrics", [r["Properties"]])
    ]
    ours = [m for m in ours if m.get("Namespace") not in (None, "AWS/States")]
    assert ours and all(m["Namespace"] == observability.NAMESPACE for m in ours)
    assert all(m["Dimensions"] == [{"Name": "service", "Value": observability.SERVICE}] for m in ours)


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_it_sends_each_function_the_event_its_handler_declares() -> None:
    for name, task in STATES.items():
        if task["Type"] != "Task" or name == GO_ON:
            continue
        sent = {key.removesuffix(".$") for key in task["Parameters"]["Payload"]}
        declared: Any = drain_state.StepEvent if "DrainFunctionArn" in json.dumps(task) else drain_state.AnswerStepEvent
        if task["Parameters"]["Payload"].get("Action") == "wait":
            declared = drain_state.WaitEvent
        fields = get_type_hints(declared)
        assert sent == set(fields), name
        if "Action" in task["Parameters"]["Payload"]:
            assert task["Parameters"]["Payload"]["Action"] in get_args(fields["Action"]), name
