"""A preflight's or a drain's claim on its cluster's room: written (its number drawn once), then read back with the
others', which become what placing must leave to them (capacity.ClaimedFirst). decisions/claims.py says the rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..decisions.claims import Claim, Others, numbered, view_of
from .capacity import ClaimedFirst

if TYPE_CHECKING:
    from ..aws.clients import Clients
    from ..decisions.properties import DrainProperties


@dataclass(frozen=True)
class ClaimedRoom:
    """What this claimant may count (with who else claims the cluster's room, as the Reason names them)."""

    claimed: ClaimedFirst
    unread: bool = False  # the claims could not be read or written: the room is judged as ECS shows it

    def names(self) -> list[str]:
        return list(self.claimed.by)


def claim_room(clients: Clients, cluster: str, mine: Claim, now: float, keep_groups: bool = False) -> ClaimedRoom:
    """Write `mine` (keeping the number it drew before, and with `keep_groups` the tasks it claimed before) and
    read every claim on the cluster's room back."""
    book = clients.room
    if book is None:
        return ClaimedRoom(ClaimedFirst())  # an older template without the table: nothing to share
    before = book.read(cluster)
    if before is None:
        return ClaimedRoom(ClaimedFirst(), unread=True)
    kept = next((c for c in before if c.key == mine.key), None)
    if kept is not None:
        mine = replace(numbered(mine, kept.seq), groups=kept.groups if keep_groups else mine.groups)
    written = book.write(cluster, mine)
    # A new claim drew its number after that read: read again, so that every claim numbered before it is seen.
    claims = before if kept else book.read(cluster)
    if written is None or claims is None:
        return ClaimedRoom(ClaimedFirst(), unread=True)
    return _seen_by(written, claims, now)


def read_room(clients: Clients, cluster: str, key: str, now: float) -> ClaimedRoom:
    """The others' claims, as the claim under `key` (written before) sees them; its own kept as it is."""
    claims = clients.room.read(cluster) if clients.room is not None else []
    if claims is None:
        return ClaimedRoom(ClaimedFirst(), unread=True)
    mine = next((c for c in claims if c.key == key), None)
    if mine is None:  # never written (the table refused at the plan): judged as ECS shows it
        return ClaimedRoom(ClaimedFirst(), unread=clients.room is not None)
    return _seen_by(mine, claims, now)


# A check by hand claims nothing: it comes after every claim in flight.
LAST = 2**62


def read_room_last(clients: Clients, target: DrainProperties, ec2_ids: Sequence[str], now: float) -> ClaimedRoom:
    """What a drain of `target` started now could count: every claim in flight comes first (`ecs-drain check`)."""
    if clients.room is None:
        return ClaimedRoom(ClaimedFirst())
    claims = clients.room.read(target.cluster_name)
    if claims is None:
        return ClaimedRoom(ClaimedFirst(), unread=True)
    mine = Claim(target.target_name, "a check", frozenset(ec2_ids), frozenset(), (), now + 1, seq=LAST)
    return _seen_by(mine, claims, now)


def _seen_by(mine: Claim, claims: list[Claim], now: float) -> ClaimedRoom:
    others = Others.of(claims, mine, now)
    everyone = [*others.claims, mine]
    first = tuple((c.groups, frozenset(view_of(c, everyone))) for c in others.first(mine, now))
    return ClaimedRoom(ClaimedFirst(first, frozenset(others.not_room()), others.names()))


def hold_room_until(clients: Clients, cluster: str, key: str, until: float) -> None:
    """The claim's tasks are being replaced (its targets set DRAINING): their claim on the room ends at `until`."""
    _rewrite(clients, cluster, key, lambda c: replace(c, groups_until=until))


def settle_room(clients: Clients, cluster: str, key: str, until: float) -> None:
    """The claim's new target is decided (the Update passed): it stays, and the claim lasts until `until`."""
    _rewrite(clients, cluster, key, lambda c: replace(c, undecided=frozenset(), expires_at=until))


def _rewrite(clients: Clients, cluster: str, key: str, change: Callable[[Claim], Claim]) -> None:
    claims = clients.room.read(cluster) if clients.room is not None else None
    kept = next((c for c in claims or [] if c.key == key), None)
    if clients.room is not None and kept is not None:
        clients.room.write(cluster, change(kept))


def release_room(clients: Clients, cluster: str, key: str) -> None:
    """The claim is over: its drain ended, or its Update failed (its new target goes, its old one stays)."""
    if clients.room is not None:
        clients.room.release(cluster, key)
