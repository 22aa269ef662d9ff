"""Prints every TypedDict key of the product as a vulture whitelist line (`make check`).

TypedDict keys are read and written as strings (drain["phase"]), which vulture does not follow; listing them all
is right for every TypedDict, so none needs a hand-kept entry.
"""

from __future__ import annotations

import inspect
from typing import is_typeddict

from ecs_drain.model import events, state


def keys() -> list[str]:
    found = {
        key
        for module in (state, events)
        for _, kind in inspect.getmembers(module, inspect.isclass)
        if is_typeddict(kind)
        for key in kind.__annotations__
    }
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(keys()))
