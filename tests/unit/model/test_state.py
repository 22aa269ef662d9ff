from __future__ import annotations

import json
import uuid

from ecs_drain.model import state


def test_it_keeps_the_state_of_1000_targets_well_under_64_kb() -> None:
    ids = [str(uuid.uuid4()).replace("-", "") for _ in range(1000)]
    packed = state.pack_ids(ids)
    assert state.unpack_ids(packed) == sorted(ids)
    assert len(json.dumps({"pending": packed, "standaloneStopped": packed})) < 64_000


def test_it_packs_ecs_ids_raw_and_anything_else_compressed() -> None:
    for ids in (
        [uuid.uuid4().hex for _ in range(5)],
        [str(uuid.uuid4()) for _ in range(5)],
        ["legacy-id-1", "0123", str(uuid.uuid4())],
        [],
    ):
        assert state.unpack_ids(state.pack_ids(ids)) == sorted(ids)
    assert len(state.pack_ids([uuid.uuid4().hex for _ in range(1000)])) < 22_000


def test_it_marks_a_subset_of_the_pending_ids_with_a_bit_each() -> None:
    ids = [uuid.uuid4().hex for _ in range(1000)]
    subset = ids[::3]
    packed = state.pack_subset(ids, subset)
    assert len(packed) == 168  # 125 bytes, in base64
    assert state.unpack_subset(ids, packed) == sorted(subset)
    assert state.pack_subset(ids, []) == "" and state.unpack_subset(ids, "") == []


def test_it_keeps_the_properties_apart_from_what_the_steps_added() -> None:
    execution = state.execution_state(
        {"Properties": {"Cluster": "web", "OnTimeout": "FAIL"}, "CloudFormation": {}, "step": {"drain": {}}}
    )
    assert state.properties_of(execution) == {"Cluster": "web", "OnTimeout": "FAIL"}
    assert dict(state.step_of(execution)) == {"drain": {}}


def test_it_gives_a_new_drain_every_field_the_state_machine_reads() -> None:
    drain = state.new_state("web", 0.0, None, 10)
    assert set(state.ASL_FIELDS) <= set(drain)
    assert set(drain) <= set(state.DrainState.__annotations__)


def test_it_packs_each_watched_tasks_instance_in_two_bytes() -> None:
    instances = [uuid.uuid4().hex for _ in range(300)]
    homes = {uuid.uuid4().hex: instances[n % 300] for n in range(1000)}
    packed = state.pack_homes(instances, homes)
    assert len(packed) == 2668  # 2,000 bytes, in base64
    assert state.unpack_homes(instances, list(homes), packed) == homes
    assert state.unpack_homes(instances, list(homes)[:10], packed) == {}  # not the tasks it was packed for
