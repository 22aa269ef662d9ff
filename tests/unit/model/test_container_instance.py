"""One container instance as read: an EC2 instance registered more than once is what its latest registration says."""

from __future__ import annotations

from ecs_drain.model.container_instance import InstanceFacts, latest_registrations


def test_it_takes_each_ec2_instances_latest_registration_as_what_the_instance_is() -> None:
    before = InstanceFacts("aaaa", "i-1", "DRAINING", agent_connected=False, registered_at=1000.0)
    again = InstanceFacts("bbbb", "i-1", "ACTIVE", agent_connected=True, registered_at=5000.0)  # a new root volume
    other = InstanceFacts("cccc", "i-2", "ACTIVE", agent_connected=True)  # when it registered: not read
    found = latest_registrations({f.id: f for f in (before, again, other)})
    assert found == {"bbbb": again, "cccc": other}
