"""Room elsewhere for the targets' tasks."""

from __future__ import annotations

from collections.abc import Sequence

from ecs_drain.decisions.placement import TaskNeeds
from ecs_drain.model.container_instance import InstanceFacts
from ecs_drain.model.state import Resources, Spare, TaskGroup, no_resources
from ecs_drain.steps.capacity import ClaimedFirst, has_room, place_groups


def test_it_needs_room_only_for_service_tasks_that_fit_somewhere() -> None:
    need: Resources = {"cpu": 1000, "memory": 1000, "largestCpu": 512, "largestMemory": 512}
    roomy: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 1024, "largestMemory": 1024}
    fragmented: Spare = {"instances": 2, "cpu": 2000, "memory": 2000, "largestCpu": 256, "largestMemory": 1024}
    assert has_room(need, roomy)
    assert not has_room(need, fragmented)
    assert has_room(no_resources(), {"instances": 0, "cpu": 0, "memory": 0, "largestCpu": 0, "largestMemory": 0})


def instance(name: str, cpu: int, memory: int) -> InstanceFacts:
    return InstanceFacts(name, f"i-{name}", "ACTIVE", True, 0, cpu, memory, cpu, memory)


def group(service: str, tasks: int, cpu: int, distinct: bool = False, held_on: Sequence[str] = ()) -> TaskGroup:
    needs = TaskNeeds(service, cpu, 256, distinct_instance=distinct)
    return {"service": service, "tasks": tasks, "heldOn": list(held_on), "targetGroups": [], "needs": needs.to_json()}


def test_it_gates_the_drain_on_the_tasks_fitting_one_by_one_not_on_the_sums() -> None:
    # 3 x 1024 CPU fit in the sums (2 x 2048 free) and one by one.
    assert place_groups([group("web", 3, 1024)], [instance("a", 2048, 4096), instance("b", 2048, 4096)]).fits
    # 2 x 1536 CPU onto 2048 + 1024 free: the sums allow it (3072 of 3072), one by one only one fits.
    crowded = place_groups([group("web", 2, 1536)], [instance("a", 2048, 4096), instance("b", 1024, 4096)])
    assert not crowded.fits and [u.task.service for u in crowded.unplaced] == ["web"]
    # distinctInstance counts the tasks the service already runs on the instances that remain.
    held = place_groups([group("spread", 1, 256, distinct=True, held_on=["a"])], [instance("a", 4096, 8192)])
    assert not held.fits


def test_it_takes_the_placed_verdict_over_the_sums_once_it_has_one() -> None:
    need: Resources = {"cpu": 3072, "memory": 768, "largestCpu": 1536, "largestMemory": 256}
    spare: Spare = {"instances": 2, "cpu": 4096, "memory": 8192, "largestCpu": 2048, "largestMemory": 4096}
    assert has_room(need, spare)
    assert not has_room(need, spare | {"fits": False})
    assert not has_room(need, {**spare, "cpu": 1024, "fits": True})  # the sums are still necessary


def test_it_places_an_earlier_claims_tasks_first_and_counts_no_instance_another_claim_may_take_away() -> None:
    """Two rollovers share one spare instance `s` (2048 CPU free): the earlier one's 2 x 1024 take it whole, so the
    later one's task has no room there. `n` is the earlier one's new instance (4096 free, undecided): its tasks go
    there first (the emptiest), leaving `s` to the later one, which never counts `n` itself."""
    spare, new_of_earlier = instance("s", 2048, 4096), instance("n", 4096, 8192)
    earlier = ((group("api", 2, 1024),), frozenset[str]())
    later = place_groups([group("web", 1, 1024)], [spare], claimed=ClaimedFirst(first=(earlier,)))
    assert not later.fits and [u.task.service for u in later.unplaced] == ["web"]
    assert place_groups([group("web", 1, 1024)], [spare], claimed=ClaimedFirst()).fits  # no earlier claim
    both = ClaimedFirst(first=(earlier,), not_room=frozenset({"i-n"}))
    assert place_groups([group("web", 1, 1024)], [spare, new_of_earlier], claimed=both).fits  # on `s`
    large = place_groups([group("web", 1, 3072)], [spare, new_of_earlier], claimed=both)  # only `n` would take it
    assert not large.fits and large.unplaced[0].task.service == "web"
