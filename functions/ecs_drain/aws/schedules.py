"""How many ECS call schedules the account's ecs-drain providers keep: each provider stack exports the call budget
table its drains book in (`<stack>-EcsDrainCallBudgetTable`); more than one table means as many schedules, each at
its own EcsReadCallsPerSecond, and together more of the account's shared ECS read rate than any one allows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

EXPORT_SUFFIX: Final = "-EcsDrainCallBudgetTable"


def call_budget_tables(cloudformation: CloudFormationClient) -> list[str] | None:
    """The call budget tables the providers in this account and Region export (ListExports, 100 a page); None when
    the exports cannot be read (nothing is said then)."""
    tables: set[str] = set()
    try:
        for page in cloudformation.get_paginator("list_exports").paginate():
            tables.update(e["Value"] for e in page.get("Exports", []) if e.get("Name", "").endswith(EXPORT_SUFFIX))
    except (ClientError, BotoCoreError):
        return None
    return sorted(tables)
