"""The package boundaries DESIGN.md D5 and D14 draw, read from the import statements themselves."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT


def _imported_modules(package: Path) -> dict[str, set[str]]:
    """Each source file of `package` → the absolute module names it imports (at any depth)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        path: sorted(name for name in names if name.split(".")[0] in forbidden or name.startswith(forbidden))
        for path, names in _imported_modules(package).items()
        if any(name.split(".")[0] in forbidden or name.startswith(forbidden) for name in names)
    }


def test_the_embedded_aws_imports_nothing_from_the_pipeline() -> None:
    # Given the embedded AWS package, When its import graph is read, Then no module names the pipeline
    graph = _imported_modules(ROOT / "embedded_aws")
    assert len(graph) >= 8  # the seams are there to check
    assert _offenders(ROOT / "embedded_aws", ("pipeline",)) == {}


def test_the_lambda_code_imports_neither_the_cli_nor_the_embedded_aws() -> None:
    # Given what goes into the Lambda artifact (pipeline/ without pipeline/cli/)
    for layer in ("handlers", "logic", "adapters", "contracts"):
        # Then nothing there imports the CLI side or the embedded AWS
        assert _offenders(ROOT / "pipeline" / layer, ("embedded_aws", "pipeline.cli")) == {}, layer
    for module in ("models.py", "errors.py", "config.py", "client.py"):
        names = _imported_modules(ROOT / "pipeline").get(f"pipeline/{module}", set())
        assert not {n for n in names if n.startswith(("embedded_aws", "pipeline.cli"))}, module


def test_boto3_is_imported_only_by_adapters_in_the_lambda_code() -> None:
    # Given the handlers and the logic, Then neither imports boto3 (DESIGN.md D5)
    for layer in ("handlers", "logic"):
        assert _offenders(ROOT / "pipeline" / layer, ("boto3", "botocore")) == {}, layer
