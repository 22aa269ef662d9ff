"""Powertools Logger, Metrics and Tracer shared by the handlers."""

from __future__ import annotations

import functools
from collections.abc import Callable

from aws_lambda_powertools import Logger, Metrics, Tracer

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
