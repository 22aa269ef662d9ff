from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from ecs_drain.properties import parse
from ecs_drain.targets import Clients, ClusterGone, container_instance_ids, ec2_instance_ids

FLEET = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Call")


class FakeEc2:
    def __init__(self, pages: list[list[str]], requests: int = 1) -> None:
        self.pages, self.requests, self.tokens = pages, requests, []

    def describe_spot_fleet_requests(self, **_: Any) -> dict[str, Any]:
        return {"SpotFleetRequestConfigs": [{}] * self.requests}

    def describe_spot_fleet_instances(self, **kwargs: Any) -> dict[str, Any]:
        self.tokens.append(kwargs.get("NextToken"))
        index = int(kwargs.get("NextToken", "0"))
        page: dict[str, Any] = {"ActiveInstances": [{"InstanceId": i} for i in self.pages[index]]}
        if index + 1 < len(self.pages):
            page["NextToken"] = str(index + 1)
        return page

    def describe_fleet_instances(self, **_: Any) -> dict[str, Any]:
        raise error("InvalidFleetId.NotFound")


def clients(ec2: Any = None, ecs: Any = None) -> Clients:
    return Clients(ecs=ecs, ec2=ec2, autoscaling=None)  # type: ignore[arg-type]


def test_it_reads_every_page_of_a_spot_fleet() -> None:
    ec2 = FakeEc2([["i-1", "i-2"], ["i-3"]])
    assert ec2_instance_ids(parse({"Cluster": "web", "SpotFleet": FLEET}), clients(ec2)) == ["i-1", "i-2", "i-3"]
    assert ec2.tokens == [None, "1"]


def test_it_reports_a_spot_fleet_or_fleet_that_is_gone_as_none() -> None:
    assert ec2_instance_ids(parse({"Cluster": "web", "SpotFleet": FLEET}), clients(FakeEc2([[]], requests=0))) is None
    fleet = parse({"Cluster": "web", "Fleet": "fleet-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"})
    assert ec2_instance_ids(fleet, clients(FakeEc2([[]]))) is None


class FakeEcs:
    def __init__(self, fail: str = "") -> None:
        self.filters: list[str] = []
        self.fail = fail

    def get_paginator(self, _name: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, cluster: str, filter: str) -> list[dict[str, Any]]:
                if fake.fail:
                    raise error(fake.fail)
                fake.filters.append(filter)
                return [{"containerInstanceArns": [f"arn:aws:ecs:r:1:container-instance/web/c-{filter.count(',')}"]}]

        return Paginator()


def test_it_maps_instances_in_filters_of_at_most_100_ids() -> None:
    ecs = FakeEcs()
    ids = [f"i-{n:08x}" for n in range(250)]
    container_instance_ids(ecs, "web", ids)  # type: ignore[arg-type]
    assert len(ecs.filters) == 3
    assert ecs.filters[0].startswith("ec2InstanceId in ['i-00000000','i-00000001'")
    assert [f.count(",") + 1 for f in ecs.filters] == [100, 100, 50]


def test_it_says_when_the_cluster_is_gone() -> None:
    with pytest.raises(ClusterGone):
        container_instance_ids(FakeEcs(fail="ClusterNotFoundException"), "web", ["i-1"])  # type: ignore[arg-type]
