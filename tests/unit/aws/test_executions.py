from __future__ import annotations

import json
import math
import re
from typing import Any, cast

from ecs_drain.aws.executions import drain_input, execution_name, last_of_chain, stack_prefix, went_on_in
from ecs_drain.decisions.properties import MAX_MANUAL_DRAIN_SECONDS, parse
from ecs_drain.model.state import FAILED_TRY_SECONDS, link_name

STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/web-cluster/1f2e3d4c-0000-11ef-9a2b-0a1b2c3d4e5f"


def test_it_names_the_execution_after_stack_and_resource() -> None:
    name = execution_name(STACK, "ECSDrain", "request-1")
    assert name.startswith("web-cluster-ECSDrain-")
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", name)


def test_it_gives_a_repeated_delivery_the_same_name_and_another_request_another() -> None:
    assert execution_name(STACK, "ECSDrain", "request-1") == execution_name(STACK, "ECSDrain", "request-1")
    assert execution_name(STACK, "ECSDrain", "request-1") != execution_name(STACK, "ECSDrain", "request-2")


def test_it_keeps_long_names_within_80_characters_with_the_chains_numbers_and_distinct() -> None:
    stack = STACK.replace("web-cluster", "s" * 128)
    a, b = execution_name(stack, "L" * 255, "r1"), execution_name(stack, "L" * 255, "r2")
    assert len(a) == len(b) == 75 and len(link_name({"name": a, "link": 9999})) == 80
    assert a != b


def test_it_finds_a_stacks_drains_by_the_same_prefix_even_for_long_stack_names() -> None:
    for stack_name in ("web-cluster", "s" * 128):
        stack_id = STACK.replace("web-cluster", stack_name)
        assert execution_name(stack_id, "ECSDrain", "r").startswith(stack_prefix(stack_name))


def test_it_bounds_failed_tries_in_a_row_to_outlast_the_deadline_and_no_more() -> None:
    given = {"Cluster": "web", "InstanceIds": ["i-aaaaaaaa"], "DrainTimeoutSeconds": "600"}
    started = drain_input(given, parse(given), 1000.0, "web-drain")
    assert started["RequestedAt"] == 1000.0 and started["Properties"] == given
    # Each failed try lasts at least 18 s (1 s and 2 s of quick retries, a 15 s wait): 35 of them in a row (630 s at
    # least) outlast 600 s; 34 (612 s) would too, and 33 (594 s) might not: ceil(600 / 18) + 1.
    assert (
        started["step"]["maxFailedTries"] == 35 and (started["step"]["maxFailedTries"] - 2) * FAILED_TRY_SECONDS == 594
    )
    by_hand = {"Cluster": "web", "InstanceIds": ["i-aaaaaaaa"]}
    manual = drain_input(by_hand, parse(by_hand, from_cloudformation=False), 0.0, "manual")
    assert manual["step"]["maxFailedTries"] == math.ceil(MAX_MANUAL_DRAIN_SECONDS / FAILED_TRY_SECONDS) + 1


class ChainedSfn:
    """DescribeExecution over a chain of three: the first two went on, the last runs."""

    def __init__(self) -> None:
        arn = "arn:aws:states:us-east-1:123456789012:execution:drain:web-drain"
        self.described = {
            arn: _went_on(arn, arn + "-2"),
            arn + "-2": _went_on(arn + "-2", arn + "-3"),
            arn + "-3": {"executionArn": arn + "-3", "status": "RUNNING"},
        }

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        return self.described[executionArn]


def _went_on(arn: str, following: str) -> dict[str, Any]:
    return {
        "executionArn": arn,
        "status": "SUCCEEDED",
        "output": json.dumps({"outcome": "WENT_ON", "wentOnIn": following}),
    }


def test_it_follows_a_chain_to_the_execution_it_has_come_to() -> None:
    sfn = ChainedSfn()
    first = next(iter(sfn.described.values()))
    last = last_of_chain(cast(Any, sfn), cast(Any, first))
    assert last["executionArn"].endswith("-3") and last["status"] == "RUNNING"
    # An execution that ended with a summary (or failed) goes on nowhere.
    assert went_on_in({"status": "SUCCEEDED", "output": json.dumps({"outcome": "DRAINED"})}) is None
    assert went_on_in({"status": "FAILED", "output": json.dumps({"outcome": "WENT_ON", "wentOnIn": "x"})}) is None
