"""ARNs and the ids at their ends (ECS takes either; the state keeps ids)."""

from __future__ import annotations


def last_part(arn: str) -> str:
    """The id at the end of an ARN (an id stays itself)."""
    return arn.rsplit("/", 1)[-1]
