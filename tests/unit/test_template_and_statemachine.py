"""The ASL and the template agree, and both follow the rules the project sets itself."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

from emulation import template as cfn

TEMPLATE = cfn.load()
_, SM_PROPS, ASL = cfn.state_machine(TEMPLATE)
STATES: dict[str, Any] = ASL["States"]
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
        catch = state["Catch"][0]
        assert catch["ErrorEquals"] == ["States.ALL"]
        if name not in ANSWER_STATES:
            assert catch["Next"] in ANSWER_STATES, name


def test_it_bounds_the_loop_by_the_checks_counter() -> None:
    choice = STATES["Is the drain over?"]
    bound = [c for c in choice["Choices"] if c.get("NumericGreaterThanEqualsPath") == "$.drain.maxChecks"]
    assert bound and bound[0]["Variable"] == "$.drain.checks"
    assert bound[0]["Next"] in ANSWER_STATES
    # The only way back into the loop goes through that choice.
    assert STATES["Wait before the next check"]["Next"] == "Set instances DRAINING and count the tasks left"
    assert STATES["Set instances DRAINING and count the tasks left"]["Next"] == "Is the drain over?"


def test_it_reaches_an_answer_from_every_state() -> None:
    for name in STATES:
        if STATES[name]["Type"] in ("Succeed", "Fail"):
            continue
        assert reachable(name) & ANSWER_STATES, name


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
