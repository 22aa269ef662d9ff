"""Room claimed once: who counts which instances, and whose tasks are placed first."""

from __future__ import annotations

from ecs_drain.decisions.claims import Claim, Others, numbered, view_of
from ecs_drain.model.state import TaskGroup


def group(service: str, tasks: int) -> TaskGroup:
    return {"service": service, "tasks": tasks, "heldOn": [], "targetGroups": [], "needs": {"cpu": 512}}


def claim(key: str, seq: int, *, leaving: set[str], undecided: set[str] = set(), tasks: int = 2, **kw: float) -> Claim:  # noqa: B006
    return Claim(
        key=key,
        by=f"the rollover of {key}",
        leaving=frozenset(leaving),
        undecided=frozenset(undecided),
        groups=(group(f"svc-{key}", tasks),) if tasks else (),
        expires_at=kw.get("expires_at", 1_000.0),
        groups_until=kw.get("groups_until"),
        seq=seq,
    )


A = claim("A", 1, leaving={"i-a1", "i-a2"}, undecided={"i-a3"})
B = claim("B", 2, leaving={"i-b1"}, undecided={"i-b2"})
C = claim("C", 3, leaving={"i-c1"})


def test_it_never_counts_another_claims_old_target_nor_its_undecided_new_one() -> None:
    assert Others.of([A, B, C], B, now=0.0).not_room() == {"i-a1", "i-a2", "i-a3", "i-c1"}
    # Its own new target is its room; its own old one is not (the caller leaves it out).
    assert view_of(B, [A, B, C]) == {"i-b1", "i-a1", "i-a2", "i-a3", "i-c1"}


def test_it_places_only_the_earlier_claims_first_in_their_order_whichever_checks_first() -> None:
    # B sees A first (1 < 2) and not C; A sees none first; C sees A then B: the same order for all three.
    assert [c.key for c in Others.of([C, B, A], B, 0.0).first(B, 0.0)] == ["A"]
    assert Others.of([B, C, A], A, 0.0).first(A, 0.0) == []
    assert [c.key for c in Others.of([A, B, C], C, 0.0).first(C, 0.0)] == ["A", "B"]


def test_it_forgets_an_expired_claim_and_one_whose_tasks_no_longer_hold_room() -> None:
    stale = claim("A", 1, leaving={"i-a1"}, expires_at=50.0)
    assert Others.of([stale, B], B, now=60.0).claims == ()
    replaced = claim("A", 1, leaving={"i-a1"}, groups_until=100.0)  # set DRAINING: ECS shows its replacements
    others = Others.of([replaced, B], B, now=120.0)
    assert others.first(B, 120.0) == [] and others.not_room() == {"i-a1"}  # its targets still go away
    assert Others.of([replaced, B], B, now=90.0).first(B, 90.0) == [replaced]


def test_it_keeps_a_claim_whole_through_its_json() -> None:
    assert Claim.from_json("A", A.to_json()) == A
    assert numbered(claim("D", 0, leaving=set()), 7).seq == 7
    assert A.tasks() == 2
    assert Others.of([A, B], B, 0.0).names() == ("the rollover of A (2 tasks of A)",)
