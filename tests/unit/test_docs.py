"""docs/reliability.md names real tests, and every reliability test is in it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_it_keeps_the_reliability_table_and_the_tests_in_step() -> None:
    table = set(re.findall(r"`(test_it_\w+)`", (ROOT / "docs" / "reliability.md").read_text()))
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_it_\w+)", path.read_text(), re.MULTILINE)
    }
    assert table <= defined, sorted(table - defined)
    matrix = set(re.findall(r"^def (test_it_\w+)", (ROOT / "tests/e2e/test_reliability.py").read_text(), re.MULTILINE))
    assert matrix <= table, sorted(matrix - table)
