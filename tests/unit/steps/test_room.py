"""A claim on the cluster's room: written with its number drawn once, read back with the others'."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from ecs_drain.decisions.claims import Claim
from ecs_drain.model.state import TaskGroup
from ecs_drain.steps.room import claim_room, hold_room_until, read_room, release_room, settle_room
from tests.fakes import FakeBook, clients

NOW = 1_000.0


def group(service: str, tasks: int) -> TaskGroup:
    return {"service": service, "tasks": tasks, "heldOn": [], "targetGroups": [], "needs": {"cpu": 512}}


def claim(key: str, tasks: int = 2, **changes: Any) -> Claim:
    made = Claim(key, f"the drain of {key}", frozenset({f"i-{key}"}), frozenset(), (group(key, tasks),), NOW + 600)
    return replace(made, **changes)


def with_book(book: FakeBook) -> Any:
    return replace(clients(), room=cast(Any, book))


def test_it_numbers_a_new_claim_once_and_reads_again_so_that_it_sees_every_earlier_one() -> None:
    book = FakeBook()
    first = claim_room(with_book(book), "web", claim("a"), NOW)
    assert book.claims["a"].seq == 1 and first.claimed.first == () and book.reads == 2  # read, write, read again
    second = claim_room(with_book(book), "web", claim("b"), NOW)
    assert book.claims["b"].seq == 2
    [(groups, not_theirs)] = second.claimed.first  # a's tasks come first, on what a may count
    assert groups == (group("a", 2),) and not_theirs == frozenset({"i-a", "i-b"})
    assert second.claimed.not_room == frozenset({"i-a"}) and second.claimed.by == ("the drain of a (2 tasks of a)",)


def test_it_keeps_a_claims_number_and_with_keep_groups_its_tasks_when_written_again() -> None:
    book = FakeBook()
    claim_room(with_book(book), "web", claim("a", tasks=3), NOW)
    claim_room(with_book(book), "web", claim("a", tasks=0, groups=()), NOW, keep_groups=True)
    assert book.claims["a"].seq == 1 and book.claims["a"].tasks() == 3 and book.drawn == 1


def test_it_judges_the_room_as_ecs_shows_it_and_says_so_when_the_claims_cannot_be_read() -> None:
    book = FakeBook(down=True)
    for room in (claim_room(with_book(book), "web", claim("a"), NOW), read_room(with_book(book), "web", "a", NOW)):
        assert room.unread and room.claimed.first == () and room.claimed.not_room == frozenset()
    assert not claim_room(clients(), "web", claim("a"), NOW).unread  # no table at all (an older template): quiet


def test_it_settles_holds_and_releases_a_claim() -> None:
    book = FakeBook()
    claim_room(with_book(book), "web", claim("a", undecided=frozenset({"i-new"})), NOW)
    settle_room(with_book(book), "web", "a", NOW + 3600)
    assert book.claims["a"].undecided == frozenset() and book.claims["a"].expires_at == NOW + 3600
    hold_room_until(with_book(book), "web", "a", NOW + 120)
    assert book.claims["a"].groups_until == NOW + 120 and book.claims["a"].seq == 1
    release_room(with_book(book), "web", "a")
    assert book.claims == {}
