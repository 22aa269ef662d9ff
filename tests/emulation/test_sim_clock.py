"""Simulated time: a sleep cut short by `wake`, and alarms that run as participants at their time."""

from __future__ import annotations

import threading

from emulation.sim_clock import EPOCH, SimClock


def test_it_wakes_a_sleeper_before_its_time_and_moves_on_from_there() -> None:
    clock = SimClock()
    woke_at: list[float] = []
    token = threading.Event()
    both_in = threading.Barrier(3)  # time waits until both take part

    def waiter() -> None:
        with clock.participant():
            both_in.wait()
            clock.sleep(15, until=token)  # a task waiting for its token, with a 15 s timeout
            woke_at.append(clock.now() - EPOCH)

    def sender() -> None:
        with clock.participant():
            both_in.wait()
            clock.sleep(4)
            clock.wake(token)  # SendTaskSuccess at 4 s

    threads = [threading.Thread(target=waiter), threading.Thread(target=sender)]
    with clock.participant():
        for thread in threads:
            thread.start()
        both_in.wait()
    for thread in threads:
        thread.join(10)
    assert woke_at == [4.0]


def test_it_ends_an_unwoken_sleep_at_its_timeout() -> None:
    clock = SimClock()
    with clock.participant():
        clock.sleep(15, until=threading.Event())
    assert clock.now() - EPOCH == 15.0


def test_it_stops_time_at_an_alarm_and_runs_it_as_a_participant_whose_calls_take_time() -> None:
    clock = SimClock()
    seen: list[tuple[str, float]] = []

    def delivered() -> None:  # an event's target: a function whose two calls take 0.5 s each
        seen.append(("delivered", clock.now() - EPOCH))
        clock.sleep(0.5)
        clock.sleep(0.5)
        seen.append(("done", clock.now() - EPOCH))

    def model(t: float) -> None:
        seen.append(("model", t - EPOCH))

    clock.call_at(EPOCH + 3.0, delivered)
    clock.on_advance(model)
    clock.advance(10)
    assert seen == [
        ("model", 3.0),  # the models are brought up to the alarm, not past it
        ("delivered", 3.0),
        ("model", 3.5),
        ("model", 4.0),
        ("done", 4.0),
        ("model", 10.0),
    ]
    assert clock.next_alarm() == float("inf")
