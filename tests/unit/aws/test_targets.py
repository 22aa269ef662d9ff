from __future__ import annotations

from ecs_drain.aws.targets import capacity_short, ec2_instance_ids
from ecs_drain.decisions.properties import parse
from tests.fakes import FakeEc2, clients

FLEET = "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def test_it_reads_every_page_of_a_spot_fleet() -> None:
    ec2 = FakeEc2([["i-1", "i-2"], ["i-3"]])
    assert ec2_instance_ids(parse({"Cluster": "web", "SpotFleet": FLEET}), clients(ec2=ec2)) == ["i-1", "i-2", "i-3"]
    assert ec2.tokens == [None, "1"]


def test_it_reports_a_spot_fleet_or_fleet_that_is_gone_as_none() -> None:
    assert (
        ec2_instance_ids(parse({"Cluster": "web", "SpotFleet": FLEET}), clients(ec2=FakeEc2([[]], requests=0))) is None
    )
    fleet = parse({"Cluster": "web", "Fleet": "fleet-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"})
    assert ec2_instance_ids(fleet, clients(ec2=FakeEc2([[]]))) is None


def test_it_tells_a_fleet_still_filling_its_capacity_from_one_that_has_filled_it() -> None:
    props = parse({"Cluster": "web", "SpotFleet": FLEET})
    assert capacity_short(props, clients(ec2=FakeEc2([["i-1"]], capacity=(2.0, 3)))) == (2.0, 3.0)
    assert capacity_short(props, clients(ec2=FakeEc2([["i-1"]], capacity=(3.0, 3)))) is None
    assert capacity_short(props, clients(ec2=FakeEc2([[]], requests=0))) is None  # gone: nothing to wait for
    assert capacity_short(parse({"Cluster": "web", "InstanceIds": ["i-0123456789abcdef0"]}), clients()) is None
