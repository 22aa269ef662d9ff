from __future__ import annotations

from typing import Any, cast

import pytest

from ecs_drain.aws import ecs_calls
from tests.fakes import FakeEcs


def test_it_sets_draining_ten_at_a_time_and_reports_per_instance_failures() -> None:
    ecs = FakeEcs()
    ids = [f"c{n:02d}" for n in range(25)]
    for cid in ids:
        ecs.add_instance(cid)
    ecs.refuse = {"c07"}
    problems = ecs_calls.set_draining(ecs.client, "web", ids)
    assert ecs.calls["UpdateContainerInstancesState"] == 3
    assert problems == ["c07: ServerException"]
    assert sum(1 for i in ecs.instances.values() if i["status"] == "DRAINING") == 24


def test_it_stops_only_standalone_tasks() -> None:
    ecs = FakeEcs()
    ecs.add_instance("a", status="DRAINING")
    ecs.add_task("a", "svc", group="service:web")
    ecs.add_task("a", "job", group="family:nightly-report")
    assert ecs_calls.stop_standalone_tasks(ecs.client, "web", "a") == 1
    assert ecs.tasks["job"]["desiredStatus"] == "STOPPED"
    assert ecs.tasks["svc"]["desiredStatus"] == "RUNNING"


def test_it_keeps_every_filter_expression_under_2000_characters_and_covers_every_id() -> None:
    ids = [f"i-{n:017x}" for n in range(1000)]  # the long form of EC2 instance ids
    expressions = ecs_calls.filter_expressions(ids)
    assert all(len(e) < ecs_calls.FILTER_MAX_CHARACTERS for e in expressions)
    listed = [i.strip("'") for e in expressions for i in e.removeprefix("ec2InstanceId in [").rstrip("]").split(",")]
    assert listed == sorted(ids)
    assert len(expressions) == 12  # 22 characters an id: 90 ids an expression at most
    assert ecs_calls.filter_expressions(["i-1"]) == ["ec2InstanceId in ['i-1']"]


def test_it_maps_ec2_instances_to_container_instances_through_the_filter() -> None:
    ecs = FakeEcs()
    for n in range(250):
        ecs.add_instance(f"{n:08x}")
    ids = [f"i-{n:08x}" for n in range(0, 250)] + ["i-unregistered"]
    assert ecs_calls.container_instance_ids(ecs.client, "web", ids) == [f"{n:08x}" for n in range(0, 250)]
    assert len(ecs.filters) == 2  # 13 characters a short id: 152 ids an expression at most


def test_it_says_when_the_cluster_is_gone() -> None:
    with pytest.raises(ecs_calls.ClusterGone):
        ecs_calls.container_instance_ids(FakeEcs(fail="ClusterNotFoundException").client, "web", ["i-1"])


def test_it_holds_the_fakes_to_what_ecs_accepts() -> None:
    """The fake ECS validates every call against botocore's model: a parameter AWS refuses fails the test."""
    ecs = FakeEcs()
    ecs.add_instance("a1")
    with pytest.raises(AssertionError, match='Unknown parameter in input: "maxResult"'):
        ecs.get_paginator("list_tasks").paginate(cluster="web", desiredStatus="RUNNING", maxResult=5)
    with pytest.raises(AssertionError, match="Invalid type for parameter tasks"):
        ecs.describe_tasks(**cast("dict[str, Any]", {"cluster": "web", "tasks": "t1"}))  # a str where a list goes
