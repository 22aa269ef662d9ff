"""Where the claims on a cluster's room are kept (decisions/claims.py says what they mean): one item per cluster,
`room#<cluster>`, in the call budget table, which every provider of the account that shares its schedule shares.

The item holds a counter (`next`) and one attribute per claim (`claim:<target>`, the claim as JSON). A claim's
number is drawn from the counter by the first write (one UpdateItem ADD, answered with the new value), so the order
is the table's, the same for everyone. A claim is read back with the others in one strongly consistent GetItem.
Trouble with the table is never the drain's: the room is then judged as ECS shows it, without the claims, and the
Reason says the claims could not be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ..decisions.claims import Claim, numbered
from ..runtime.environment import Environment
from ..runtime.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PREFIX = "claim:"
TROUBLE = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class RoomBook:
    """The claims on the room of the provider's clusters, in its call budget table."""

    dynamodb: DynamoDBClient
    table: str

    @classmethod
    def from_environment(cls, dynamodb: DynamoDBClient) -> RoomBook | None:
        table = Environment.read().budget_table
        return cls(dynamodb, table) if table else None

    def read(self, cluster: str) -> list[Claim] | None:
        """Every claim on the cluster's room (expired ones too: the reader judges); None where it cannot be read."""
        try:
            item = self.dynamodb.get_item(TableName=self.table, Key=_key(cluster), ConsistentRead=True).get("Item")
        except TROUBLE as error:
            logger.warning("The claims on the cluster's room could not be read", extra={"error": repr(error)})
            return None
        found: list[Claim] = []
        for name, value in (item or {}).items():
            if name.startswith(PREFIX) and "S" in value:
                try:
                    found.append(Claim.from_json(name.removeprefix(PREFIX), value["S"]))
                except (ValueError, KeyError, TypeError) as error:  # a claim an other version wrote: not ours to read
                    logger.warning("A claim could not be read", extra={"claim": name, "error": repr(error)})
        return found

    def write(self, cluster: str, claim: Claim) -> Claim | None:
        """Record the claim (a new one draws its number first); None where the table refused."""
        try:
            if not claim.seq:
                drawn = self.dynamodb.update_item(
                    TableName=self.table,
                    Key=_key(cluster),
                    UpdateExpression="ADD #next :one",
                    ExpressionAttributeNames={"#next": "next"},
                    ExpressionAttributeValues={":one": {"N": "1"}},
                    ReturnValues="UPDATED_NEW",
                )["Attributes"]["next"]["N"]
                claim = numbered(claim, int(drawn))
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(cluster),
                UpdateExpression="SET #claim = :claim",
                ExpressionAttributeNames={"#claim": PREFIX + claim.key},
                ExpressionAttributeValues={":claim": {"S": claim.to_json()}},
            )
        except TROUBLE as error:
            logger.warning("The claim on the cluster's room could not be written", extra={"error": repr(error)})
            return None
        return claim

    def release(self, cluster: str, key: str) -> None:
        """The claim is over (its drain ended, its preflight failed). Trouble is logged: it expires anyway."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(cluster),
                UpdateExpression="REMOVE #claim",
                ExpressionAttributeNames={"#claim": PREFIX + key},
            )
        except TROUBLE as error:
            logger.warning("The claim on the cluster's room could not be released", extra={"error": repr(error)})


def _key(cluster: str) -> dict[str, dict[str, str]]:
    return {"category": {"S": f"room#{cluster}"}}
