"""Findings: one reason a drain cannot finish, as each step saw it and as the state keeps it. Pure: what was
seen, merged with what was kept, in the order the Reason gives them.

What each cause means, and what it does to a drain, is said once, in the Cause enum of model/state.py: those ECS
cannot resolve by itself (BLOCKING_CAUSES) answer early under BlockedTimeoutSeconds, once one has held that many
seconds with no task of it moving; warnings (WARNING_CAUSES) hold nothing up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..model.state import BLOCKING_CAUSES, WARNING_CAUSES, Cause, Finding

# Most important first, as the Cause enum lists them: the Reason's order.
_ORDER: Final = list(Cause)
MAX_FINDINGS = 10  # kept in the state and the Reason


@dataclass(frozen=True)
class Observation:
    """One finding as this step saw it; merged with the previous step's to carry `since` over."""

    cause: Cause
    subject: str
    tasks: int
    detail: str
    since: float | None = None  # when ECS says it began (an event's time), if it says


def merge(previous: Iterable[Finding], seen: Iterable[Observation], now: float) -> list[Finding]:
    """Keep when each finding was first seen, and since when its tasks have not dropped; warnings stay once seen
    (a service that went to zero healthy tasks did, even after it recovers)."""
    before = {(f["cause"], f["subject"]): f for f in previous}
    found: dict[tuple[str, str], Finding] = {}
    for obs in seen:
        old = before.get((obs.cause, obs.subject))
        since = old["since"] if old else (obs.since if obs.since is not None else now)
        stuck = old["stuckSince"] if old and obs.tasks >= old["tasks"] else (since if old is None else now)
        found[(obs.cause, obs.subject)] = {
            "cause": obs.cause,
            "subject": obs.subject,
            "tasks": obs.tasks,
            "since": since,
            "stuckSince": stuck,
            "detail": obs.detail,
        }
    for key, old in before.items():
        if key not in found and old["cause"] in WARNING_CAUSES:
            found[key] = old
    ordered = sorted(found.values(), key=lambda f: (_ORDER.index(f["cause"]), f["since"], f["subject"]))
    return ordered[:MAX_FINDINGS]


def blocked(findings: Iterable[Finding], now: float, after_seconds: int) -> Finding | None:
    """The first finding ECS cannot resolve whose tasks have not moved for `after_seconds`."""
    for finding in findings:
        if finding["cause"] in BLOCKING_CAUSES and finding["tasks"] and now - finding["stuckSince"] >= after_seconds:
            return finding
    return None


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f["cause"] in BLOCKING_CAUSES and f["tasks"]]


def unchanged(previous: Iterable[Finding], findings: Iterable[Finding]) -> bool:
    """True when every blocking finding of a previous attempt holds now with no fewer tasks."""
    earlier = blocking(previous)
    now = {(f["cause"], f["subject"]): f["tasks"] for f in blocking(findings)}
    return bool(earlier) and all(now.get((f["cause"], f["subject"]), 0) >= f["tasks"] for f in earlier)


def warnings(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that are said but hold nothing up."""
    return [f for f in findings if f["cause"] in WARNING_CAUSES]
