"""The Lambda artifact, built as `sam build` builds it (the Makefile's targets, `make package`): small, pinned
to the versions the tests run with, and complete (every handler imports with nothing else on sys.path)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_aws.template import load_template
from tests.conftest import ROOT

#: What one function's artifact may weigh: our code only (the dependencies are in the layer).
MAX_FUNCTION_BYTES = 1_000_000
#: The layer: Powertools, pydantic, jsonschema, Pillow and pillow-heif for arm64 (about 50 MB, 15 MB of it
#: pillow-heif's libheif, libde265 and the x265 encoder libheif links to, though only decoding is used).
MAX_LAYER_BYTES = 60_000_000


def _package(out: Path, *extra: str) -> Path:
    subprocess.run(
        ["make", "-s", "package", f"PACKAGE_DIR={out}", *extra],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _functions() -> dict[str, str]:
    """Each function's logical id and handler, from template.yaml."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {
        logical_id: resource["Properties"]["Handler"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


@pytest.fixture(scope="module")
def arm64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `sam build` deploys: arm64 wheels for python3.13."""
    return _package(tmp_path_factory.mktemp("arm64"))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same locked set built for this machine's Python, so that it can be imported here."""
    return _package(tmp_path_factory.mktemp("host"), "LAMBDA_PLATFORM=host")


def test_the_layer_holds_exactly_the_versions_the_tests_run_with(arm64: Path) -> None:
    # Given the arm64 layer, When its distributions are read
    layer = arm64 / "DependenciesLayer" / "python"
    built = {
        str(d.metadata["Name"]).lower().replace("_", "-"): d.version
        for d in importlib.metadata.distributions(path=[str(layer)])
    }

    # Then each is the version installed here, and the requirements are all there
    tested = {name: importlib.metadata.version(name) for name in built}
    assert built == tested
    required = {"aws-lambda-powertools", "pydantic", "pydantic-core", "jsonschema", "pillow", "pillow-heif"}
    assert required <= set(built)
    # ...with no second copy of what the runtime provides
    assert not {"boto3", "botocore", "s3transfer", "urllib3"} & set(built)
    assert _size(arm64 / "DependenciesLayer") < MAX_LAYER_BYTES


def test_each_function_artifact_is_our_lambda_code_alone(arm64: Path) -> None:
    # Given every function's artifact
    for logical_id in _functions():
        artifact = arm64 / logical_id

        # Then it holds the pipeline package without the CLI, and nothing else
        assert sorted(p.name for p in artifact.iterdir()) == ["pipeline"], logical_id
        assert not (artifact / "pipeline" / "cli").exists()
        assert not list(artifact.rglob("__pycache__"))
        assert _size(artifact) < MAX_FUNCTION_BYTES, logical_id


def test_every_handler_imports_from_the_artifact_in_a_clean_interpreter(
    host: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Given the artifact built for this Python, and boto3 where Lambda's runtime has it (pinned as tested)
    runtime = tmp_path_factory.mktemp("runtime")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--target", str(runtime), "-c", str(ROOT / "constraints.txt"), "boto3"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    layer = host / "DependenciesLayer" / "python"

    # When each handler's module is imported by an isolated interpreter (no site-packages, no environment)
    for logical_id, handler in _functions().items():
        module = handler.rsplit(".", 1)[0]
        script = (
            "import sys, importlib\n"
            f"sys.path[:0] = [{str(host / logical_id)!r}, {str(layer)!r}, {str(runtime)!r}]\n"
            f"importlib.import_module({module!r})\n"
            "loaded = {m.split('.')[0] for m in sys.modules}\n"
            "print(sorted(loaded & {'embedded_aws', 'typer', 'rich', 'moto'}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", script],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"},
        )

        # Then it imports, needing nothing of the CLI or the embedded AWS
        assert result.returncode == 0, f"{logical_id}: {result.stderr[-2000:]}"
        assert result.stdout.strip() == "[]", logical_id
