"""Which local Python runs a function: the one its `Runtime` names when installed, else the host's.

Lambda's `python3.12` runtime is CPython 3.12 with boto3 and botocore (and their pure-Python dependencies)
and nothing else. Locally a function gets, in order of preference:

1. the interpreter named by `EMBEDDED_AWS_PYTHON3_12` (for `python3.12`),
2. the host's own interpreter when it is that version (the venv's packages stay importable, as today),
3. `python3.12` on PATH, or pyenv's newest `3.12.*` — a *foreign* interpreter, which sees only the function's
   code and a runtime directory with the host's boto3 set (when its `Requires-Python` admits that version),
4. else the host's interpreter, with a note saying so (shown at deploy time and by the CLI).

A function whose code directory declares build-time dependencies (`requirements.txt`, or a `Makefile` for
SAM's `BuildMethod: makefile`) runs on the host's interpreter: `sam build` would install those for the target
Python, the embedded AWS builds nothing, and the host's environment is where they are installed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from embedded_aws.errors import UnsupportedResourceError

log = logging.getLogger(__name__)

#: The Python runtimes Lambda offers that the local runtime runs (the bootstrap needs 3.9+).
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
#: What Lambda's Python runtimes ship besides the standard library: distribution → importable top-level names.
RUNTIME_PACKAGES = {
    "boto3": ("boto3",),
    "botocore": ("botocore",),
    "s3transfer": ("s3transfer",),
    "jmespath": ("jmespath",),
    "urllib3": ("urllib3",),
    "python-dateutil": ("dateutil",),
    "six": ("six.py",),
}
#: Files in a code directory that mean `sam build` installs dependencies the embedded AWS does not build.
BUILD_MARKERS = ("requirements.txt", "Makefile")
_RUNTIME = re.compile(r"^python3\.(\d+)$")
_HOST = (sys.version_info.major, sys.version_info.minor)


@dataclass(frozen=True)
class Interpreter:
    """The executable a function's workers run on, and why."""

    runtime: str
    executable: str
    version: tuple[int, int]
    host: bool
    note: str = ""
    #: The runtime's Python was wanted and is not installed here (so code may not run as on Lambda).
    missing: bool = False

    @property
    def label(self) -> str:
        """What a person reads: `python3.12 (/path/to/python3.12)`."""
        where = "host" if self.host else self.executable
        return f"Python {self.version[0]}.{self.version[1]} ({where})"


def check_runtime(runtime: str | None, function: str) -> None:
    """Refuse a runtime the local Lambda runtime cannot run (Node.js, Java, custom runtimes, images...)."""
    if runtime not in PYTHON_RUNTIMES:
        raise UnsupportedResourceError(
            f"Function {function} has Runtime {runtime or '(none: an image)'}; the embedded AWS runs Python "
            f"functions only ({', '.join(PYTHON_RUNTIMES)})."
        )


def _version_of(runtime: str) -> tuple[int, int] | None:
    match = _RUNTIME.match(runtime)
    return (3, int(match.group(1))) if match else None


@functools.lru_cache(maxsize=64)
def _probe(executable: str) -> tuple[int, int] | None:
    """The (major, minor) an executable reports, or None when it does not run (a pyenv shim may not)."""
    try:
        done = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("Python interpreter %s does not run: %s", executable, exc)
        return None
    if done.returncode != 0:
        return None
    major, _, minor = done.stdout.strip().partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def _pyenv_candidates(version: tuple[int, int]) -> list[str]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    prefix = f"{version[0]}.{version[1]}."
    found: list[tuple[int, str]] = []
    for entry in root.glob(f"{prefix}*"):
        patch = entry.name[len(prefix) :]
        executable = entry / "bin" / f"python{version[0]}.{version[1]}"
        if patch.isdigit() and executable.exists():
            found.append((int(patch), str(executable)))
    return [path for _, path in sorted(found, reverse=True)]


def env_variable(runtime: str) -> str:
    """The variable that names an interpreter for a runtime: `EMBEDDED_AWS_PYTHON3_12` for `python3.12`."""
    return "EMBEDDED_AWS_" + runtime.upper().replace(".", "_")


def has_build_dependencies(code_dir: Path) -> str | None:
    """The file that says `sam build` would install dependencies into this code directory, if any."""
    for marker in BUILD_MARKERS:
        if (code_dir / marker).is_file():
            return marker
    return None


def find(runtime: str) -> Interpreter | None:
    """A local interpreter of the runtime's version, if one is installed (see the module's docstring)."""
    version = _version_of(runtime)
    if version is None:
        return None
    configured = os.environ.get(env_variable(runtime))
    if configured:
        if _probe(configured) == version:
            return Interpreter(runtime, configured, version, host=False)
        log.warning(
            "%s=%s is not a Python %d.%d that runs: ignored",
            env_variable(runtime),
            configured,
            *version,
        )
    if version == _HOST:
        return Interpreter(runtime, sys.executable, version, host=True)
    on_path = shutil.which(f"python{version[0]}.{version[1]}")
    for candidate in [*([on_path] if on_path else []), *_pyenv_candidates(version)]:
        if _probe(candidate) == version:
            return Interpreter(runtime, candidate, version, host=False)
    return None


#: Set (by the template planner) on a function using a public layer whose package the host provides.
HOST_LAYER_VARIABLE = "EMBEDDED_AWS_HOST_LAYER"


def resolve(
    runtime: str, code_dir: Path, *, layer_dirs: tuple[Path, ...] = (), host_layer: str | None = None
) -> Interpreter:
    """The interpreter a function runs on: a matching one, else the host's with a note saying why."""
    host = f"Python {_HOST[0]}.{_HOST[1]}"
    if _version_of(runtime) == _HOST:
        return Interpreter(runtime, sys.executable, _HOST, host=True)
    why = None
    for directory, what in [(code_dir, "its"), *((d, f"its layer {d.name}'s") for d in layer_dirs)]:
        marker = has_build_dependencies(directory)
        if marker is not None:
            why = (
                f"{what} {marker} declares dependencies that `sam build` would install for the target "
                "Python; here they come from the host's environment"
            )
            break
    if why is None and host_layer:
        why = f"its public layer's {host_layer} comes from the host's environment"
    if why is not None:
        return Interpreter(
            runtime, sys.executable, _HOST, host=True, note=f"runs on the host's {host}, not {runtime}: {why}"
        )
    found = find(runtime)
    if found is not None:
        return found
    version = _version_of(runtime)
    wanted = f"python{version[0]}.{version[1]}" if version else runtime
    return Interpreter(
        runtime,
        sys.executable,
        _HOST,
        host=True,
        missing=True,
        note=(
            f"runs on the host's {host}, not {runtime}: no {wanted} found (on PATH, in pyenv, or named by "
            f"{env_variable(runtime)}); code that needs {runtime} may fail"
        ),
    )


_CLAUSE = re.compile(r"^(>=|<=|==|!=|>|<|~=)\s*(\d+(?:\.\d+)*)(\.\*)?$")


def admits(requires_python: str, version: tuple[int, int]) -> bool:
    """Whether a `Requires-Python` specifier (`>=3.10`, `!=3.0.*,>=2.7`) admits Python `version`."""
    have = (*version, 0)
    for clause in filter(None, (c.strip() for c in requires_python.split(","))):
        match = _CLAUSE.match(clause)
        if match is None:
            continue  # a form this check does not know: do not exclude on it
        op, text, wildcard = match.groups()
        want = tuple(int(part) for part in text.split("."))
        if wildcard:
            same = have[: len(want)] == want
            if (op == "==" and not same) or (op == "!=" and same):
                return False
            continue
        want = (*want, 0, 0)[:3]
        if not {
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
            "==": have == want,
            "!=": have != want,
            "~=": have >= want,
        }[op]:
            return False
    return True


def runtime_packages(root: Path, version: tuple[int, int]) -> tuple[Path, list[str]]:
    """A directory under `root` of links to the host's boto3 set that runs on `version`, and what is left out.

    Lambda's runtime puts these on the path after the function's code (so a vendored boto3 wins). The
    directory is named after what it links to, made once and never changed: other embedded AWS processes
    sharing the state directory may be running functions from it.
    """
    links: dict[str, Path] = {}
    missing: list[str] = []
    for name, top_levels in RUNTIME_PACKAGES.items():
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(f"{name} (not installed on the host)")
            continue
        requires = distribution.metadata["Requires-Python"] or ""
        if not admits(requires, version):
            missing.append(f"{name} {distribution.version} (requires Python {requires})")
            continue
        site = Path(str(distribution.locate_file("")))
        links.update({top_level: site / top_level for top_level in top_levels})
        info = Path(str(getattr(distribution, "_path", "")))
        if info.name.endswith(".dist-info"):  # so importlib.metadata.version("boto3") works, as on Lambda
            links[info.name] = info
    digest = hashlib.sha256(repr(sorted(links.items())).encode()).hexdigest()[:12]
    target = root / f"python{version[0]}.{version[1]}-{digest}"
    if not target.exists():
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        for link, source in links.items():
            (staging / link).symlink_to(source)
        try:
            staging.rename(target)
        except OSError:  # another process made it first: same name, same links
            shutil.rmtree(staging)
    return target, missing
