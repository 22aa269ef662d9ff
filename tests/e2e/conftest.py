from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulation.scenarios import ON_CLOSE
from tests.e2e.helpers import assert_no_secret_leaked


@pytest.fixture(autouse=True)
def no_response_url_anywhere() -> Iterator[None]:
    """In every end-to-end test: the ResponseURL is in no log line, execution input, output or history."""
    ON_CLOSE.append(assert_no_secret_leaked)
    yield
    ON_CLOSE.remove(assert_no_secret_leaked)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: with two workers, the long runs start at once and the short ones fill in around them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
