"""The provider's environment: every variable named and read in one module."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecs_drain.runtime import environment
from ecs_drain.runtime.environment import BadEnvironment, Environment, required
from emulation import template as cfn

PRODUCT = Path(environment.__file__).parents[1]
# Set by the emulation's CloudFormation only (its own CA), never by the template.
NOT_FROM_THE_TEMPLATE = {environment.CA_BUNDLE}


def test_it_names_every_variable_the_template_sets_for_its_functions() -> None:
    resources = cfn.load()["Resources"]
    set_by_template = {
        name
        for resource in resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for name in resource["Properties"].get("Environment", {}).get("Variables", {})
    }
    named = {value for key, value in vars(environment).items() if key.isupper() and isinstance(value, str)}
    assert set_by_template == named - NOT_FROM_THE_TEMPLATE


def test_it_is_the_only_module_of_the_product_that_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(PRODUCT))
        for path in PRODUCT.rglob("*.py")
        if re.search(r"os\.environ|getenv", path.read_text())
    }
    assert readers == {"runtime/environment.py"}


def test_it_reads_what_is_set_and_leaves_the_rest_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (environment.WATCH_TABLE, environment.BUDGET_TABLE, environment.TASK_STOPPED_RULE):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(environment.READS_PER_SECOND, "12.5")
    monkeypatch.setenv(environment.STATE_MACHINE, "arn:aws:states:us-east-1:1:stateMachine:drain")
    env = Environment.read()
    assert env.reads_per_second == 12.5 and env.state_machine == "arn:aws:states:us-east-1:1:stateMachine:drain"
    assert env.watch_table is None and env.budget_table is None and env.task_stopped_rule is None


@pytest.mark.parametrize("value", ["ten", "0", "-5"])
def test_it_names_a_rate_it_cannot_use(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(environment.MODIFY_CALLS_PER_SECOND, value)
    with pytest.raises(BadEnvironment, match=f"ECS_MODIFY_CALLS_PER_SECOND must be a number .* not '{value}'"):
        Environment.read()


def test_it_names_a_variable_it_cannot_work_without() -> None:
    with pytest.raises(BadEnvironment, match="STATE_MACHINE_ARN is not set"):
        required(None, environment.STATE_MACHINE)
    assert required("arn", environment.STATE_MACHINE) == "arn"
