"""What the provider stack tells its functions through their environment (template.yaml sets it): every variable
named and read here, once, and nowhere else."""

from __future__ import annotations

import os
from dataclasses import dataclass

STATE_MACHINE = "STATE_MACHINE_ARN"  # the drain state machine (the custom resource starts it)
RESPONSE_PARAMETER_PREFIX = "RESPONSE_PARAMETER_PREFIX"  # where answers too large for a response are kept
WATCH_TABLE = "ECS_DRAIN_WATCH_TABLE"  # the task watch, and the shared sweeps
TASK_STOPPED_RULE = "ECS_DRAIN_TASK_STOPPED_RULE"
HELD_INSTANCES_RULE = "ECS_DRAIN_HELD_INSTANCES_RULE"  # the schedule of the reads for held instances
BUDGET_TABLE = "ECS_DRAIN_BUDGET_TABLE"  # the call schedule every drain of the account shares
READS_PER_SECOND = "ECS_READS_PER_SECOND"
MODIFY_CALLS_PER_SECOND = "ECS_MODIFY_CALLS_PER_SECOND"
# A CA the answer trusts besides the system's: tests and the emulation's CloudFormation use a throwaway certificate;
# verification is never turned off.
CA_BUNDLE = "ECS_DRAIN_CA_BUNDLE"


class BadEnvironment(ValueError):
    """A variable the function needs is missing or not what it should be."""


@dataclass(frozen=True)
class Environment:
    """The variables as read; None where one is not set (a provider deployed from an older template lacks some)."""

    state_machine: str | None = None
    response_parameter_prefix: str | None = None
    watch_table: str | None = None
    task_stopped_rule: str | None = None
    held_instances_rule: str | None = None
    budget_table: str | None = None
    reads_per_second: float | None = None
    modify_calls_per_second: float | None = None
    ca_bundle: str | None = None

    @classmethod
    def read(cls) -> Environment:
        """The environment now (read at every call: a Lambda's is fixed, a test's is not)."""
        return cls(
            state_machine=_text(STATE_MACHINE),
            response_parameter_prefix=_text(RESPONSE_PARAMETER_PREFIX),
            watch_table=_text(WATCH_TABLE),
            task_stopped_rule=_text(TASK_STOPPED_RULE),
            held_instances_rule=_text(HELD_INSTANCES_RULE),
            budget_table=_text(BUDGET_TABLE),
            reads_per_second=_rate(READS_PER_SECOND),
            modify_calls_per_second=_rate(MODIFY_CALLS_PER_SECOND),
            ca_bundle=_text(CA_BUNDLE),
        )


def required(value: str | None, variable: str) -> str:
    """A variable this function cannot work without."""
    if not value:
        raise BadEnvironment(f"The environment variable {variable} is not set: deploy the provider's template.")
    return value


def _text(variable: str) -> str | None:
    return os.environ.get(variable) or None


def _rate(variable: str) -> float | None:
    value = _text(variable)
    if value is None:
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise BadEnvironment(
            f"The environment variable {variable} must be a number of calls a second above 0, not {value!r}."
        )
    return rate
