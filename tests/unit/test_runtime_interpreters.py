"""Which local Python runs a function (embedded_aws.interpreters): no network, no real foreign interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from embedded_aws import interpreters
from embedded_aws.runtime import _exit_reason

HOST = f"python{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No interpreter on PATH, an empty pyenv, no EMBEDDED_AWS_PYTHON* variables."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    for runtime in interpreters.PYTHON_RUNTIMES:
        monkeypatch.delenv(interpreters.env_variable(runtime), raising=False)
    return tmp_path


def _fake_python(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(
    ("spec", "version", "admitted"),
    [
        (">= 3.10", (3, 9), False),
        (">= 3.10", (3, 12), True),
        (">=3.9", (3, 9), True),
        ("!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", (3, 9), True),
        ("<3.13", (3, 13), False),
        ("", (3, 14), True),
    ],
)
def test_requires_python_specifiers_admit_versions_as_pip_reads_them(
    spec: str, version: tuple[int, int], admitted: bool
) -> None:
    # Given a Requires-Python specifier, When a version is checked, Then it is admitted as pip would admit it
    assert interpreters.admits(spec, version) is admitted


def test_the_hosts_own_version_runs_on_the_host_without_a_note(tmp_path: Path) -> None:
    # Given a function whose Runtime is the host's Python version
    # When its interpreter is resolved
    found = interpreters.resolve(HOST, tmp_path)

    # Then it is the host's interpreter (the venv's packages stay importable), with nothing to say
    assert (found.executable, found.host, found.note) == (sys.executable, True, "")


def test_a_missing_interpreter_falls_back_to_the_host_and_says_why(nowhere: Path) -> None:
    # Given no Python 3.14 anywhere
    # When a python3.14 function's interpreter is resolved
    found = interpreters.resolve("python3.14", nowhere)

    # Then it runs on the host, and the note names what was looked for and how to configure one
    assert found.host and found.executable == sys.executable and found.missing
    assert "not python3.14: no python3.14 found" in found.note
    assert "EMBEDDED_AWS_PYTHON3_14" in found.note


def test_an_environment_variable_names_the_interpreter(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given EMBEDDED_AWS_PYTHON3_14 naming an executable that reports Python 3.14
    fake = _fake_python(nowhere / "my-python", "3.14")
    monkeypatch.setenv("EMBEDDED_AWS_PYTHON3_14", str(fake))

    # When a python3.14 function's interpreter is resolved
    found = interpreters.resolve("python3.14", nowhere)

    # Then that executable runs it, as a foreign interpreter
    assert (found.executable, found.version, found.host, found.note) == (str(fake), (3, 14), False, "")


def test_a_variable_naming_the_wrong_version_is_ignored(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given EMBEDDED_AWS_PYTHON3_14 naming an executable that is Python 3.13
    monkeypatch.setenv("EMBEDDED_AWS_PYTHON3_14", str(_fake_python(nowhere / "old-python", "3.13")))

    # When a python3.14 function's interpreter is resolved, Then it falls back to the host with a note
    found = interpreters.resolve("python3.14", nowhere)
    assert found.host and "no python3.14 found" in found.note


def test_pyenv_versions_are_found_newest_patch_first(nowhere: Path) -> None:
    # Given pyenv with Python 3.14.1 and 3.14.10 (and a shim-like PATH that finds nothing)
    for patch in ("1", "10"):
        bin_dir = nowhere / "pyenv" / "versions" / f"3.14.{patch}" / "bin"
        bin_dir.mkdir(parents=True)
        _fake_python(bin_dir / "python3.14", "3.14")

    # When a python3.14 function's interpreter is resolved
    found = interpreters.resolve("python3.14", nowhere)

    # Then pyenv's newest 3.14 runs it
    assert found.executable.endswith("versions/3.14.10/bin/python3.14")
    assert not found.host


@pytest.mark.parametrize("marker", ["requirements.txt", "Makefile"])
def test_code_with_build_dependencies_runs_on_the_host(nowhere: Path, marker: str) -> None:
    # Given a python3.14 function whose code directory declares what `sam build` installs, and a Python 3.14
    (nowhere / marker).write_text("pydantic\n")
    bin_dir = nowhere / "pyenv" / "versions" / "3.14.0" / "bin"
    bin_dir.mkdir(parents=True)
    _fake_python(bin_dir / "python3.14", "3.14")

    # When its interpreter is resolved
    found = interpreters.resolve("python3.14", nowhere)

    # Then it runs on the host, where those dependencies are installed, and the note names the file
    assert found.host and not found.missing
    assert marker in found.note


def test_the_runtime_directory_links_the_boto3_set_that_runs_on_the_target(tmp_path: Path) -> None:
    # Given the host's boto3, botocore and their dependencies
    import importlib.metadata

    # When runtime directories are built for the host's version and for Python 3.9
    host_dir, host_missing = interpreters.runtime_packages(tmp_path, sys.version_info[:2])
    _, old_missing = interpreters.runtime_packages(tmp_path, (3, 9))

    # Then the host's has every package (and its metadata), linked to the host's files
    assert host_missing == []
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py"):
        assert (host_dir / name).is_symlink()
    assert list(host_dir.glob("boto3-*.dist-info"))
    # ...built once: a second call (another embedded AWS on the same state directory) finds the same one
    assert interpreters.runtime_packages(tmp_path, sys.version_info[:2]) == (host_dir, [])
    # ...and 3.9's leaves out exactly what declares it cannot run there
    for name in interpreters.RUNTIME_PACKAGES:
        requires = importlib.metadata.distribution(name).metadata["Requires-Python"] or ""
        left_out = any(entry.startswith(f"{name} ") for entry in old_missing)
        assert left_out is not interpreters.admits(requires, (3, 9))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (2, "Runtime exited with error: exit status 2"),
        (0, "Runtime exited without providing a reason"),
        (-9, "Runtime exited with error: signal: killed"),
    ],
)
def test_a_worker_that_ends_is_worded_as_lambda_words_it(code: int, reason: str) -> None:
    # Given a worker's exit code, Then the reason reads as Lambda's Runtime.ExitError message does
    assert _exit_reason(code) == reason
