"""Targets on a fake ECS, as the steps' tests plan, count and check them."""

from __future__ import annotations

from ecs_drain.aws.budget import CallBudget
from ecs_drain.decisions.properties import DrainProperties, parse
from ecs_drain.model.state import (
    DrainState,
)
from ecs_drain.steps import census, draining
from tests.fakes import FakeEcs, clients

A, B, SPARE = "aaaaaaaa", "bbbbbbbb", "cccccccc"  # container instance ids; the fake's EC2 ids are i-<id>


def props(**extra: str) -> DrainProperties:
    return parse({"Cluster": "web", "InstanceIds": [f"i-{A}", f"i-{B}"], **extra})


def planned(ecs: FakeEcs, **extra: str) -> DrainState:
    return draining.plan(props(**extra), clients(ecs), now=1000.0)


def census_of(ecs: FakeEcs, ids: list[str], after: census.Census | None = None) -> census.Census:
    """A count of `ids`, following the count `after` (its watched tasks and listed instances), or the first."""
    return census.count(ecs.client, "web", pending(ids, after), CallBudget(), 0.0)


def pending(ids: list[str], after: census.Census | None = None) -> census.Pending:
    return census.Pending(ids, after.watched, after.listed) if after else census.Pending(ids)


def draining_with(**tasks: str) -> FakeEcs:
    """Instance A, DRAINING with nothing meant to run, and these tasks told to stop (id -> lastStatus)."""
    ecs = FakeEcs()
    ecs.add_instance(A, status="DRAINING")
    for task, last in tasks.items():
        ecs.add_task(A, task, last=last, desired="STOPPED")
    return ecs
