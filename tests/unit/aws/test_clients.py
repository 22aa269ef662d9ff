"""The drain's clients: once per Lambda container, and a container runs one invocation at a time."""

from __future__ import annotations

import threading

import pytest

from ecs_drain.aws import clients as aws


@pytest.fixture(autouse=True)
def fresh_clients_in_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test builds the clients anew, in a Region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset()


def test_it_gives_each_invocation_running_side_by_side_its_own_call_budget() -> None:
    # Each thread stands for a Lambda container: a step's allowance and the slots it booked are its own, so
    # another drain's step starting cannot reset them (in one process, the emulation's drains run as threads).
    mine = aws.drain_clients()
    theirs: list[aws.Clients] = []
    other = threading.Thread(target=lambda: theirs.append(aws.drain_clients()))
    other.start()
    other.join()
    assert aws.drain_clients() is mine
    assert theirs[0] is not mine and theirs[0].budget is not mine.budget


def test_it_builds_the_clients_anew_after_a_reset() -> None:
    before = aws.drain_clients()
    aws.reset()
    assert aws.drain_clients() is not before
