"""The emulation's model of ECS throttling and simulated time, pinned on small hand-computed cases."""

from __future__ import annotations

import threading

import pytest

from emulation.sim_clock import SimClock
from emulation.throttling import EcsBuckets, Neighbour, busiest_second


def test_it_passes_a_burst_of_100_reads_and_throttles_the_rest_until_refilled_at_20_per_second() -> None:
    buckets = EcsBuckets.full(0.0)
    at_once = [buckets.take("ListTasks", 0.0) for _ in range(150)]
    assert at_once.count(True) == 100
    assert at_once.count(False) == 50
    one_second_later = [buckets.take("DescribeTasks", 1.0) for _ in range(30)]
    assert one_second_later.count(True) == 20  # the same bucket, refilled at 20 per second


def test_it_keeps_a_bucket_per_category_and_lets_other_actions_through() -> None:
    buckets = EcsBuckets.full(0.0)
    for _ in range(100):
        assert buckets.take("DescribeContainerInstances", 0.0)
    assert not buckets.take("ListContainerInstances", 0.0)
    assert buckets.take("UpdateContainerInstancesState", 0.0)  # modify: its own bucket of 100
    assert buckets.take("DescribeServices", 0.0)  # service reads: their own
    assert buckets.take("DescribeClusters", 0.0)  # not among the modelled categories


def test_it_counts_a_neighbours_calls_throttled_while_the_bucket_is_empty() -> None:
    buckets = EcsBuckets.full(0.0)
    for _ in range(100):
        buckets.take("ListTasks", 0.0)  # someone emptied the bucket at t=0
    neighbour = Neighbour(reads_per_second=5, next_at=0.0)
    neighbour.run_until(1.0, buckets)
    # Calls at 0, 0.2, 0.4, 0.6, 0.8, 1.0: tokens refill at 20/s, 4 per 0.2 s: only the one at t=0 finds none.
    assert (neighbour.calls, neighbour.throttled) == (6, 1)


def test_it_finds_the_busiest_one_second_window() -> None:
    assert busiest_second([0.0, 0.1, 0.5, 0.99, 1.0, 1.5]) == 4
    assert busiest_second([]) == 0


def test_it_lets_concurrent_participants_sleep_side_by_side_instead_of_one_after_the_other() -> None:
    clock = SimClock(start=0.0)
    woke: dict[str, float] = {}
    ready = threading.Barrier(2)

    def participant(name: str, seconds: float) -> None:
        with clock.participant():
            ready.wait()  # both take part before either sleeps
            clock.sleep(seconds)
            woke[name] = clock.now()

    threads = [threading.Thread(target=participant, args=a) for a in (("wait", 15.0), ("calls", 2.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert woke == {"wait": pytest.approx(15.0), "calls": pytest.approx(2.0)}
    assert clock.now() == pytest.approx(15.0)  # not 17: the two overlapped
