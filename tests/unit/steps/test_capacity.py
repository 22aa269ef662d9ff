"""Room elsewhere for the targets' tasks."""

from __future__ import annotations

from ecs_drain.model.state import (
    Resources,
    Spare,
    no_resources,
)
from ecs_drain.steps.capacity import has_room


def test_it_needs_room_only_for_service_tasks_that_fit_somewhere() -> None:
    need: Resources = {"cpu": 1000, "memory": 1000, "largestCpu": 512, "largestMemory": 512}
    roomy: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 1024, "largestMemory": 1024}
    fragmented: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 256, "largestMemory": 1024}
    assert has_room(need, roomy)
    assert not has_room(need, fragmented)
    assert has_room(no_resources(), {"instances": 0, "cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0})
