from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import emulation  # noqa: F401 (before anything imports moto: it tells moto which AMIs to load)

EVENTS = Path(__file__).parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A CloudFormation or EventBridge event as AWS sends it, from tests/events/<name>.json (a fresh copy)."""
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text()))
    return event
