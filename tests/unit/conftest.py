from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecs_drain.runtime import clock


@pytest.fixture
def sim_time() -> Iterator[list[float]]:
    """The drain's clock on simulated time, from t=1000: it moves only when someone sleeps."""
    now = [1000.0]
    clock.use(lambda: now[0], lambda seconds: now.__setitem__(0, now[0] + seconds))
    yield now
    clock.reset()
