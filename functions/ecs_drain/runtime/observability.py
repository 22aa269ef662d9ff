"""Powertools Logger, Metrics and Tracer shared by the handlers."""

from __future__ import annotations

import functools
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "ecs-drain"
NAMESPACE = "ECSDrain"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def log_metrics[**P, R](handler: Callable[P, R]) -> Callable[P, R]:
    """Publish what the handler recorded, as Powertools' log_metrics does, even when it raises.

    Some paths have nothing to count on purpose (a crash before any work, an event that needs no answer):
    those publish nothing instead of an empty metric set and a warning.
    """

    @functools.wraps(handler)
    def publishing(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    return publishing


# A termination hook's drain that cannot finish, per group: the alarm a group's instance refresh names in its
# AlarmSpecification watches this metric with the group's dimension (docs/how-it-works.md, "Auto Scaling groups
# changed in place").
HOOK_DRAIN_BLOCKED = "HookDrainBlocked"


def report_group(group: str, blocked: int) -> None:
    """HookDrainBlocked for the group, published at once under its own dimension (the handler's metrics carry
    `service` only)."""
    with single_metric(name=HOOK_DRAIN_BLOCKED, unit=MetricUnit.Count, value=blocked, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="AutoScalingGroupName", value=group)
