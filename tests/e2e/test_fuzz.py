"""Property-based fuzzing of custom-resource events: every event gets exactly one answer, or the one documented
non-answer (a Delete that started a drain, answered by the state machine), and no handler raises to the runtime."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulation.scenarios import World, rollover_world

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.text(max_size=30),
    st.sampled_from(
        [
            "web",
            "3300",
            "15",
            "CONTINUE",
            "FAIL",
            "WAIT",
            "STOP",
            "true",
            "false",
            "sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "fleet-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "i-0123456789abcdef0",
            "arn:aws:ecs:us-east-1:123456789012:cluster/web",
        ]
    ),
    st.lists(st.sampled_from(["i-0123456789abcdef0", "i-12345678", "bad"]), max_size=3),
)
KEYS = st.sampled_from(
    [
        "Cluster",
        "SpotFleet",
        "Fleet",
        "AutoScalingGroup",
        "InstanceIds",
        "DrainTimeoutSeconds",
        "PollIntervalSeconds",
        "OnTimeout",
        "StandaloneTasks",
        "WaitForCapacity",
        "ServiceTimeout",
        "Other",
    ]
)
PROPERTIES = st.dictionaries(KEYS, VALUES, max_size=6)
REQUEST_TYPES = st.sampled_from(["Create", "Update", "Delete", "Delete", "Replace", ""])
PHYSICAL_IDS = st.one_of(
    st.none(), st.just("ecs-drain:web:SpotFleet:sfr-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"), st.text(max_size=20)
)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with rollover_world(create=False, new_instances=0, log_level="WARNING") as world:
        yield world


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_type=REQUEST_TYPES,
    properties=PROPERTIES,
    old=PROPERTIES,
    physical_id=PHYSICAL_IDS,
    drop=st.sets(st.sampled_from(["StackId", "LogicalResourceId", "ResourceProperties"]), max_size=1),
)
def test_it_answers_every_event_once_or_starts_a_drain(
    world: World,
    request_type: str,
    properties: dict[str, Any],
    old: dict[str, Any],
    physical_id: str | None,
    drop: set[str],
) -> None:
    properties = {k: v for k, v in properties.items() if v is not None}
    request = world.cfn.request(
        request_type,
        "ECSDrain",
        properties,
        physical_id=physical_id,
        old_properties=old if request_type == "Update" else None,
        request_id=str(uuid.uuid4()),
    )
    for key in drop:
        request.event.pop(key)
    result = world.aws.invoke("CustomResourceFunction", request.event)  # raises if the handler raises
    answers = world.server.answers_for(request.request_id)
    if isinstance(result, dict) and "executionArn" in result:
        assert request_type == "Delete" and physical_id and physical_id.startswith("ecs-drain:")
        deadline = time.monotonic() + 30
        while not world.server.answers_for(request.request_id) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(world.server.answers_for(request.request_id)) == 1
    else:
        assert len(answers) == 1, (request_type, properties, answers)
        body = answers[0].body
        assert body["Status"] in ("SUCCESS", "FAILED")
        if body["Status"] == "FAILED":
            assert body["Reason"]
        if request_type not in ("Create", "Update", "Delete"):
            assert body["Status"] == "FAILED"
