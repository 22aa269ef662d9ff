"""Powertools Logger, Metrics and Tracer shared by the handlers."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "ecs-drain"
NAMESPACE = "ECSDrain"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
