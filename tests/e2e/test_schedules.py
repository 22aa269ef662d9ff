"""One ECS call schedule per account and Region, however many ecs-drain providers: a provider given another's table
books there and creates none; providers that keep schedules of their own are said to, in the Reason and the alarm's
metric."""

from __future__ import annotations

import json

import boto3

from emulation.offline_aws import REGION
from emulation.scenarios import rollover_world

from .helpers import drains

SHARED = "first-provider-CallBudgetTable"


def test_it_books_in_the_schedule_another_provider_shares_and_creates_no_table_of_its_own() -> None:
    with rollover_world(new_fleet_registers=None, provider_parameters={"SharedCallBudgetTable": SHARED}) as world:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        assert dynamodb.list_tables()["TableNames"] == ["ecs-drain-WatchTable"]  # no call budget table of its own
        dynamodb.create_table(  # the first provider's, as its stack made it
            TableName=SHARED,
            KeySchema=[{"AttributeName": "category", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "category", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        world.aws.exports["first-provider-EcsDrainCallBudgetTable"] = SHARED
        _, answer = world.drain_old()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        assert "schedules of their own" not in answer.body["Reason"]  # one table exported twice: one schedule
        booked = {item["category"]["S"] for item in dynamodb.scan(TableName=SHARED)["Items"]}
        assert "read" in booked  # the drain's ECS reads were booked in the shared schedule
        assert world.aws.exports["ecs-drain-EcsDrainCallBudgetTable"] == SHARED


def test_it_warns_of_providers_that_keep_schedules_of_their_own() -> None:
    with rollover_world(new_fleet_registers=None) as world:
        world.aws.exports["other-provider-EcsDrainCallBudgetTable"] = "other-provider-CallBudgetTable"
        _, answer = world.drain_old()
        assert answer is not None and answer.body["Status"] == "SUCCESS"
        reason = answer.body["Reason"]
        assert "Warning" in reason and "2 ecs-drain providers in this account and Region" in reason
        assert "set SharedCallBudgetTable on every provider but one" in reason
        (drain,) = drains(world)
        assert [f["cause"] for f in json.loads(drain["output"])["diagnosis"]] == ["SEPARATE_SCHEDULES"]
        assert world.aws.calls.by_action(caller="DrainFunction")["cloudformation:ListExports"] == 1  # once a drain
