"""A CloudWatch metric alarm on what the handlers publish, which moto does not evaluate.

The handlers publish their metrics as embedded metric format (EMF) lines in their output (Powertools; "Embedded
metric format specification", CloudWatch User Guide); CloudWatch turns each into a data point of its namespace,
name and dimensions. An alarm of statistic Maximum over one period of `period` seconds goes into ALARM when a data
point of that period reaches its threshold (GreaterThanOrEqualToThreshold), and missing data is not breaching (as
the example's alarm says). Evaluated at the end of each period; how late CloudWatch evaluates is not modelled.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MetricAlarm:
    """One alarm: Maximum of the metric with these dimensions over a period, against its threshold."""

    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]
    threshold: float = 1.0
    state: str = "OK"
    seen: int = field(default=0)  # output lines read so far

    def evaluate(self, output: list[str]) -> bool:
        """Read the lines printed since the last evaluation; True when the alarm went into ALARM now."""
        lines, self.seen = output[self.seen :], len(output)
        breached = any(value >= self.threshold for value in self._values(lines))
        if breached and self.state != "ALARM":
            self.state = "ALARM"
            return True
        return False

    def _values(self, lines: Iterable[str]) -> list[float]:
        values = []
        for line in lines:
            for document in _documents(line):
                values.extend(self._matching(document))
        return values

    def _matching(self, document: dict[str, Any]) -> list[float]:
        directives = document.get("_aws", {}).get("CloudWatchMetrics", [])
        for directive in directives:
            names = {m.get("Name") for m in directive.get("Metrics", [])}
            dimension_sets = [set(d) for d in directive.get("Dimensions", [])]
            if directive.get("Namespace") != self.namespace or self.metric not in names:
                continue
            if set(self.dimensions) not in dimension_sets:
                continue
            if all(document.get(k) == v for k, v in self.dimensions.items()):
                value = document.get(self.metric)
                return [float(v) for v in value] if isinstance(value, list) else [float(value)]
        return []


def _documents(text: str) -> list[dict[str, Any]]:
    """The JSON objects on a chunk of output (one per line; other lines are logs or text)."""
    found = []
    for line in text.splitlines():
        if '"CloudWatchMetrics"' not in line:
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            found.append(document)
    return found
