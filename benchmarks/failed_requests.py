"""`make bench` (traffic): failed requests per scenario and strategy, on the same world and the same traffic.

Writes benchmarks/traffic.json (a row per scenario and strategy) and prints the table the README opens with.
Every figure is measured in this run; the strategies are described in emulation/strategies.py, the load balancer
and traffic model in emulation/traffic.py and docs/emulation.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from emulation.catalog import TRAFFIC_SCENARIOS
from emulation.strategies import STRATEGIES, measure

HERE = Path(__file__).resolve().parent


def _failed(r: dict[str, Any]) -> str:
    """Failed requests; a star where, when the window ended, requests still failed or a service ran no task (an
    outage that lasts; the service is named)."""
    down = r.get("down_at_end") or []
    star = "\\*" if r.get("failing_at_end") or down else ""
    return f"**{r['failed']:,}**{star}" + (f" ({', '.join(down)} down)" if down else "")


def _kept(r: dict[str, Any]) -> str:
    return "kept" if r.get("old_fleet") == "kept" else f"{r['cleanup_seconds']:,.0f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """Every row: what the README's short table shows, and the causes, the window and the old capacity."""
    lines = [
        "| scenario | strategy | window, min | requests | failed | no healthy target (503) "
        "| killed with instance (502) | killed at stop timeout | tasks killed | old set DRAINING | old fleet kept, s "
        "| old capacity instance-s | tasks short at end | stack status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['strategy']} | {r['window_seconds'] / 60:,.0f} | {r['requests']:,} | {_failed(r)} "
            f"| {r['no_healthy_target']:,} | {r['killed_with_instance']:,} | {r['killed_at_stop_timeout']:,} "
            f"| {r['tasks_killed']:,} | {r['old_set_draining']} | {_kept(r)} "
            f"| {r['old_capacity_seconds']:,.0f} | {r['short_at_end']:,} | {r['stack_status']} |"
        )
    return "\n".join(lines)


# The README's short table: the rollover; a service that allows no healthy task (where every strategy fails
# requests, ecs-drain too); and two broken new fleets (too small for the old one's tasks; an agent that never
# registers), where the preflight rolls the update back and, off, the cleanup cannot.
README_ROWS = (
    ("rollover", "ecs-drain"),
    ("rollover", "seed"),
    ("rollover", "none"),
    ("min-zero", "ecs-drain"),
    ("min-zero", "seed"),
    ("min-zero", "none"),
    ("small-fleet", "ecs-drain"),
    ("small-fleet", "ecs-drain-no-preflight"),
    ("small-fleet", "seed"),
    ("small-fleet", "none"),
    ("bad-ami", "ecs-drain"),
    ("bad-ami", "ecs-drain-no-preflight"),
)


def short_markdown(rows: list[dict[str, Any]]) -> str:
    """The README's results: failed requests, tasks killed and how long the old fleet stayed, for a few rows."""
    lines = [
        "| scenario | strategy | failed requests | of | tasks killed | old fleet kept, s | stack ends |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if (r["scenario"], r["strategy"]) in README_ROWS:
            lines.append(
                f"| {r['scenario']} | {r['strategy']} | {_failed(r)} | {r['requests']:,} "
                f"| {r['tasks_killed']:,} | {_kept(r)} | {r['stack_status']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-traffic", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=TRAFFIC_SCENARIOS, help="only these (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE / "traffic.json")
    args = parser.parse_args(argv)
    rows = []
    for scenario in args.scenario or TRAFFIC_SCENARIOS:
        for strategy in STRATEGIES:
            started = time.perf_counter()
            row = measure(scenario, strategy).row()
            rows.append(row)
            print(
                f"{scenario:>17} {strategy:>22}: {row['failed']} of {row['requests']} requests failed "
                f"({time.perf_counter() - started:.1f} s)",
                flush=True,
            )
            if not row["ended_in_window"]:
                print(f"  warning: {scenario} {strategy} had not ended 5 minutes before the window did", flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
