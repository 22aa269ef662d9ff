"""The claims on a cluster's room, in the call budget table (one item per cluster), on moto's DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from mypy_boto3_dynamodb import DynamoDBClient

from ecs_drain.aws.room_claims import RoomBook
from ecs_drain.decisions.claims import Claim
from tests.fakes import create_budget_table


@pytest.fixture
def book() -> Iterator[RoomBook]:
    with mock_aws():
        dynamodb: DynamoDBClient = boto3.client("dynamodb", region_name="us-east-1")
        create_budget_table(dynamodb, "budget")
        yield RoomBook(dynamodb, "budget")


def claim(key: str, seq: int = 0) -> Claim:
    return Claim(key, f"the drain of {key}", frozenset({"i-0123456789abcdef0"}), frozenset(), (), 2_000.0, seq=seq)


def test_it_draws_each_new_claims_number_from_the_clusters_counter_and_keeps_a_numbered_one(book: RoomBook) -> None:
    assert book.read("web") == []
    a, b = book.write("web", claim("SpotFleet sfr-a")), book.write("web", claim("SpotFleet sfr-b"))
    assert a is not None and b is not None and (a.seq, b.seq) == (1, 2)
    again = book.write("web", a)  # written again: its number kept, no new one drawn
    assert again is not None and again.seq == 1
    assert book.write("other", claim("SpotFleet sfr-c")) == claim("SpotFleet sfr-c", seq=1)  # a counter a cluster
    assert sorted((c.key, c.seq) for c in book.read("web") or []) == [("SpotFleet sfr-a", 1), ("SpotFleet sfr-b", 2)]


def test_it_releases_a_claim_and_says_none_where_the_table_cannot_be_read(book: RoomBook) -> None:
    book.write("web", claim("SpotFleet sfr-a"))
    book.release("web", "SpotFleet sfr-a")
    assert book.read("web") == []
    missing = RoomBook(book.dynamodb, "no-such-table")
    assert missing.read("web") is None and missing.write("web", claim("x")) is None
    missing.release("web", "x")  # logged, never raised: the claim expires anyway
