"""The handlers' world of fakes: what each handler reads, calls and answers. No network: answers are recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from ecs_drain.aws import cfn_answer
from ecs_drain.handlers import answer, custom_resource, drain
from ecs_drain.model.state import ExecutionState, StepState, execution_state
from ecs_drain.runtime import clock, environment
from tests.fakes import FakeCloudFormation, FakeEcs, FakeSfn, FakeSsm, LambdaContext, clients

STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ecs-drain-drain"


PREFIX = "/ecs-drain/test/responses/"


@dataclass
class World:
    ecs: FakeEcs = field(default_factory=FakeEcs)
    ssm: FakeSsm = field(default_factory=FakeSsm)
    sfn: FakeSfn = field(default_factory=FakeSfn)
    cloudformation: FakeCloudFormation = field(default_factory=FakeCloudFormation)
    answers: list[dict[str, Any]] = field(default_factory=list)  # the bodies PUT to a ResponseURL


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    world = World()
    world.ecs.add_instance("aaaaaaaa")
    for module in (custom_resource, answer, drain):
        for name, fake in (
            ("ssm_client", lambda: world.ssm.client),
            ("sfn_client", lambda: world.sfn.client),
            ("drain_clients", lambda: clients(world.ecs)),
            ("ecs_client", lambda: world.ecs.client),
            ("cloudformation_client", lambda: world.cloudformation.client),
        ):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, fake)

    def put(url: str, payload: bytes) -> int:
        if not cfn_answer.is_https(url):
            raise cfn_answer.InsecureResponseUrl(url)
        world.answers.append(json.loads(payload))
        return 200

    monkeypatch.setattr(cfn_answer, "put", put)
    monkeypatch.setenv(environment.STATE_MACHINE, STATE_MACHINE)
    monkeypatch.setenv("RESPONSE_PARAMETER_PREFIX", PREFIX)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ECSDrain")
    yield world


def published(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The metric names the handler printed as CloudWatch EMF."""
    names: set[str] = set()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and "_aws" in line:
            record = json.loads(line)
            names |= {m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    return names


def drain_input(given: dict[str, Any], requested_at: float | None = None) -> ExecutionState:
    """An execution's input for a drain started by hand, as `ecs-drain start` gives it (asked for now, by default)."""
    asked = clock.now() if requested_at is None else requested_at
    return execution_state({"Properties": given, "Mode": "drain", "RequestedAt": asked, "step": {}})


def step(action: str, state: ExecutionState) -> ExecutionState:
    """One task of the state machine: the handler's result put at $.step, as the ASL's ResultPath puts it."""
    result = drain.handler({"Action": action, "State": state, "ExecutionName": "x"}, LambdaContext())
    return {**state, "step": cast("StepState", result)}
