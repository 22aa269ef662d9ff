"""Room claimed once: what the rollovers and drains in flight in a cluster claim of it, and what is left for one.

Each preflight and each drain of a cluster records a claim (aws/claims.py keeps them where every drain of the
account reads them): the instances that go away whatever happens to it (`leaving`: its old target), those that stay
only if its Update passes (`undecided`: a preflight's new target, until it passes), and the service tasks that need
room elsewhere (`groups`). A claim's number (`seq`) is drawn once, when it is first written, from a counter every
claim of the cluster shares, so every claimant sees the same order.

What one claimant may count as room: no instance another claim names as leaving or undecided (whatever the other's
outcome, it may be gone), and of the rest, what the claims numbered before it leave once their tasks are placed
first, each on the room it may count itself. A claimant never waits for another's verdict, and later claims never
change an earlier one's: two preflights judge the same room the same way, whichever checks first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from ..model.state import TaskGroup, pack_ids, unpack_ids

# A claim outlives its execution by this much at most: a preflight that crashed, a drain stopped from the console
# must not hold room for ever (principle: our own trouble never fails a preflight).
CLAIM_MARGIN_SECONDS = 600
# A preflight that passed keeps its old target's tasks' claim until the drain of that target in the cleanup takes it
# over (the same key), or this long.
PASSED_KEEP_SECONDS = 3600
# ECS's service scheduler starts the replacements of tasks on a DRAINING instance within seconds; until it has, the
# room they will take shows as free. A drain that set its targets DRAINING keeps its tasks' claim this long more.
# (Judged from the scheduler's documented behaviour, not measured on AWS: a longer claim only delays another drain.)
DRAINING_CLAIM_SECONDS = 120


@dataclass(frozen=True)
class Claim:
    """One preflight's or drain's claim on a cluster's room."""

    key: str  # the target whose tasks need room, as the Reason names it ("SpotFleet sfr-..."): one claim per target
    by: str  # who claims, as the Reason names it ("the rollover from SpotFleet sfr-a to SpotFleet sfr-b")
    leaving: frozenset[str]  # EC2 instance ids that go whatever happens
    undecided: frozenset[str]  # EC2 instance ids that stay only if the claimant's Update passes
    groups: tuple[TaskGroup, ...]  # its tasks that need room elsewhere
    expires_at: float  # ignored after this (its execution is over, or crashed)
    groups_until: float | None = None  # its tasks' claim ends then (None: while the claim lasts)
    seq: int = 0  # its place in the cluster's order (0: not written yet)

    def holds_room(self, now: float) -> bool:
        return self.groups_until is None or now < self.groups_until

    def tasks(self) -> int:
        return sum(g["tasks"] for g in self.groups)

    def to_json(self) -> str:
        document = {
            "by": self.by,
            "leaving": pack_ids(self.leaving),
            "undecided": pack_ids(self.undecided),
            "groups": list(self.groups),
            "expiresAt": self.expires_at,
            "groupsUntil": self.groups_until,
            "seq": self.seq,
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, key: str, text: str) -> Claim:
        data: Mapping[str, Any] = json.loads(text)
        return cls(
            key=key,
            by=str(data["by"]),
            leaving=frozenset(unpack_ids(data.get("leaving") or "")),
            undecided=frozenset(unpack_ids(data.get("undecided") or "")),
            groups=tuple(cast(list[TaskGroup], data.get("groups") or [])),
            expires_at=float(data["expiresAt"]),
            groups_until=float(data["groupsUntil"]) if data.get("groupsUntil") is not None else None,
            seq=int(data.get("seq") or 0),
        )


def numbered(claim: Claim, seq: int) -> Claim:
    return replace(claim, seq=seq)


@dataclass(frozen=True)
class Others:
    """The other claims in flight in the cluster, as one claimant sees them."""

    claims: tuple[Claim, ...]

    @classmethod
    def of(cls, claims: Iterable[Claim], mine: Claim, now: float) -> Others:
        live = (c for c in claims if c.key != mine.key and c.expires_at > now)
        return cls(tuple(sorted(live, key=lambda c: (c.seq, c.key))))

    def not_room(self) -> set[str]:
        """What this claimant never counts as room: another's old target, and its new one while undecided."""
        return {i for c in self.claims for i in c.leaving | c.undecided}

    def first(self, mine: Claim, now: float) -> list[Claim]:
        """The claims numbered before `mine` whose tasks still hold room: placed first, in their order."""
        return [c for c in self.claims if c.seq < mine.seq and c.holds_room(now) and c.groups]

    def names(self) -> tuple[str, ...]:
        """Each claim as the Reason names it: who, and the tasks it claimed."""
        return tuple(f"{c.by} ({c.tasks()} tasks of {c.key})" for c in self.claims)


def view_of(claim: Claim, everyone: Sequence[Claim]) -> set[str]:
    """The instances `claim` does not count as room (everyone else's leaving and undecided, and its own leaving)."""
    excluded = set(claim.leaving)
    for other in everyone:
        if other.key != claim.key:
            excluded |= other.leaving | other.undecided
    return excluded
