"""The docs stay true: docs/reliability.md names real tests, and the README's results are the measured ones."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from benchmarks.doc_figures import page, readme_figures
from benchmarks.failed_requests import short_markdown
from emulation.catalog import TRAFFIC_SCENARIOS
from emulation.in_place import IN_PLACE_SCENARIOS, IN_PLACE_STRATEGIES
from emulation.in_place import markdown as in_place_markdown
from emulation.strategies import STRATEGIES

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


def test_it_shows_the_measured_in_place_rows_in_the_benchmarks() -> None:
    rows = json.loads((ROOT / "benchmarks" / "in_place.json").read_text())
    assert {(r["scenario"], r["strategy"]) for r in rows} == {
        (s, strategy) for s in IN_PLACE_SCENARIOS for strategy in IN_PLACE_STRATEGIES
    }
    assert in_place_markdown(rows) in (ROOT / "docs" / "benchmarks.md").read_text()


def test_it_opens_the_readme_results_with_the_measured_traffic_table() -> None:
    rows = json.loads((ROOT / "benchmarks" / "traffic.json").read_text())
    readme = (ROOT / "README.md").read_text()
    assert readme.index(short_markdown(rows)) > readme.index("## Results")
    assert {(r["scenario"], r["strategy"]) for r in rows} == {
        (s, strategy) for s in TRAFFIC_SCENARIOS for strategy in STRATEGIES
    }


def test_it_shows_in_the_readme_only_figures_from_the_benchmarks_the_template_and_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    for name, figure in readme_figures().items():
        assert figure in readme, name


def test_it_writes_the_benchmarks_page_from_the_committed_results() -> None:
    assert (ROOT / "docs" / "benchmarks.md").read_text() == page()


def test_it_keeps_the_readme_short_with_what_an_adopter_looks_for() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    for section in (
        "## Deploy",
        "## What it costs",
        "## What its IAM policies allow",
        "## Limits",
        "## Watching, stopping",
        "## Removing ecs-drain",
        "## Results",
    ):
        assert section in readme, section


def test_it_names_every_package_and_module_of_the_product_in_the_contributors_tree() -> None:
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    tree = contributing[contributing.index("```text\nfunctions/ecs_drain/") :].split("```\n", 1)[0]
    package = ROOT / "functions" / "ecs_drain"
    for folder in sorted(p for p in package.iterdir() if (p / "__init__.py").exists()):
        listed = re.split(r"\n\S|\n  \S", tree[tree.index(f"  {folder.name}/") :])[0]  # its line, continued
        modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        named = set(re.findall(r"\w+", listed))
        assert modules <= named, (folder.name, sorted(modules - named))


def test_it_gives_no_two_modules_of_the_tree_the_same_name() -> None:
    names = [
        p.stem
        for folder in ("functions", "ecs_drain_cli", "emulation", "benchmarks", "tests")
        for p in (ROOT / folder).rglob("*.py")
        if p.stem not in ("__init__", "conftest", "__main__")
    ]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def test_it_keeps_every_function_of_the_product_within_forty_lines_and_six_parameters() -> None:
    too_long = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                given = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                parameters = len([a for a in given if a.arg not in ("self", "cls")])
                if lines > 40 or parameters > 6:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines, {parameters})")
    assert too_long == []


def test_it_numbers_the_version_as_the_changelog_says() -> None:
    """The package, the template and the code agree; while the CHANGELOG's newest section is Unreleased, the version
    is a pre-release of the next one (a change to the execution's input never ships under the last number)."""
    import ecs_drain

    package = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    template = re.search(r"SemanticVersion: (\S+)", (ROOT / "template.yaml").read_text())
    newest = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    released = re.findall(r"^## (\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert package and template and newest and released
    version = package.group(1)
    assert ecs_drain.__version__ == version
    assert template.group(1) == version.replace(".dev", "-dev.")
    if newest.group(1) == "Unreleased":
        assert ".dev" in version and version.split(".dev")[0] not in released
    else:
        assert version == newest.group(1)
