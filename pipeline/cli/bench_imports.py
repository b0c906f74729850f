"""`make bench`: each Lambda handler's cold import against the floor, `import boto3` + one client.

Every sample is a fresh interpreter that times one import statement (perf_counter around it, so the
interpreter's own start is not counted, on either side). The environment is what Lambda gives the function:
its reserved variables plus the template's Globals and the function's own `Environment`, with intrinsic
functions resolved to values of the right shape; nothing from this shell leaks in (no `AWS_SAM_LOCAL`, no
`POWERTOOLS_TRACE_DISABLED`). Floor runs are interleaved with handler runs, so the noise of a shared machine
hits both alike, and each figure is a median.

    python -m pipeline.cli.bench_imports [--repeat 7] [--json] [--with-clients] [--why HANDLER]

Handlers make their boto3 clients on first use, not at import (DESIGN.md D5 allows either): `--with-clients`
adds them after the import, to show what the first invocation then adds.

A benchmark, never a test: tests assert behaviour, never durations.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT = "123456789012"
FLOOR = "floor: boto3 + 1 client"
FLOOR_CODE = f"import boto3; boto3.client('s3', region_name={REGION!r})"
#: The goal of issue 10: every handler's cold import within this multiple of the floor.
GOAL = 1.2

#: After the import, what the first invocation adds: the clients of the handler module's adapters.
_WITH_CLIENTS = (
    "import {module} as m; "
    "[getattr(o, a) for o in list(vars(m).values()) if type(o).__module__.startswith('pipeline.adapters.') "
    "for a in ('s3', 'ddb', 'sns', 'sqs', 'sfn') if isinstance(getattr(type(o), a, None), property)]"
)
_TIMED = (
    "import time; t, c = time.perf_counter(), time.process_time(); {code}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)
_SUB = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Row:
    """One line: a handler (or the floor), its median cold import and its multiple of the floor.

    `ratio` is the median of each sample's multiple of the floor sample run right beside it (wall clock);
    `cpu_ratio` the same for the CPU time the import used, which other processes on the machine disturb less.
    """

    name: str
    median_ms: float
    cpu_ms: float
    ratio: float
    cpu_ratio: float

    def cells(self) -> tuple[str, str, str]:
        return self.name, f"{self.median_ms:.0f}", f"{self.ratio:.2f}"


# --- the environment Lambda gives each function ----------------------------------------------------------


class _Tag:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics kept as `_Tag`s."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        return _Tag(suffix, loader.construct_scalar(node))
    if isinstance(node, yaml.SequenceNode):
        return _Tag(suffix, loader.construct_sequence(node, deep=True))
    return _Tag(suffix, loader.construct_mapping(node, deep=True))  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _tag)


def _service(resource_type: str) -> str:
    return {"Serverless::Function": "lambda", "Serverless::StateMachine": "states"}.get(
        resource_type.removeprefix("AWS::"), resource_type.split("::")[1].lower()
    )


class _Resolver:
    """Resolves the intrinsics of environment values to what CloudFormation would give (same shapes)."""

    def __init__(self, template: dict[str, Any]) -> None:
        self.parameters = template.get("Parameters", {})
        self.resources = template.get("Resources", {})

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return str(self.parameters[name].get("Default", name))
        if name.startswith("AWS::"):
            return {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}.get(name, name)
        kind = self.resources.get(name, {}).get("Type", "")
        physical = f"pipeline-{name}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return self.get_att(name, "Arn")
        return physical

    def get_att(self, name: str, attribute: str) -> str:
        if attribute == "Arn":
            service = _service(self.resources.get(name, {}).get("Type", "AWS::X::Y"))
            return f"arn:aws:{service}:{REGION}:{ACCOUNT}:pipeline-{name}"
        if attribute == "DomainName":
            return f"{name.lower()}.cloudfront.net"
        return f"pipeline-{name}"

    def value(self, value: Any) -> str:
        if not isinstance(value, _Tag):
            return str(value)
        if value.tag == "Ref":
            return self.ref(str(value.value))
        if value.tag == "GetAtt":
            name, _, attribute = str(value.value).partition(".")
            return self.get_att(name, attribute)
        if value.tag == "Sub" and isinstance(value.value, str):
            return _SUB.sub(lambda m: self.value(_Tag(*self._sub_target(m.group(1)))), value.value)
        return f"<{value.tag}>"

    @staticmethod
    def _sub_target(expression: str) -> tuple[str, str]:
        return ("GetAtt", expression) if "." in expression else ("Ref", expression)


def functions(template_path: Path = TEMPLATE) -> dict[str, str]:
    """Handler module → the logical id of the function that runs it, in template order."""
    template = yaml.load(template_path.read_text(), Loader=_Loader)
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        handler = resource.get("Properties", {}).get("Handler")
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(handler, str):
            found.setdefault(handler.rpartition(".")[0], logical_id)
    return found


def lambda_environment(logical_id: str, template_path: Path = TEMPLATE) -> dict[str, str]:
    """What Lambda sets in the function's environment at init, as documented for a python3.x runtime.

    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
    """
    template = yaml.load(template_path.read_text(), Loader=_Loader)
    resolve = _Resolver(template)
    globals_ = template.get("Globals", {}).get("Function", {})
    properties = template["Resources"][logical_id]["Properties"]
    runtime = properties.get("Runtime", globals_.get("Runtime", "python3.13"))
    memory = properties.get("MemorySize", globals_.get("MemorySize", 128))
    name = f"pipeline-{logical_id}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": str(properties["Handler"]),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2025/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129",
        "_AWS_XRAY_DAEMON_PORT": "2000",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "PYTHONPATH": str(ROOT),
    }
    for scope in (globals_, properties):
        variables = scope.get("Environment", {}).get("Variables", {})
        env.update({key: resolve.value(value) for key, value in variables.items()})
    return env


# --- measuring ---------------------------------------------------------------------------------------------


def _time_import(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds one fresh interpreter spends on `code` (not counting its own start)."""
    done = subprocess.run(
        [sys.executable, "-c", _TIMED.format(code=code)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{code!r} failed in a fresh interpreter:\n{done.stderr[-2000:]}")
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def _module(name: str) -> str:
    return name if name.startswith("pipeline.") else f"pipeline.handlers.{name}"


def import_profile(module: str, top: int = 15) -> list[tuple[str, float, float]]:
    """`python -X importtime` of one handler: the `top` modules by own time (module, self ms, cum ms)."""
    env = lambda_environment(functions()[_module(module)])
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, cumulative, name = line.removeprefix("import time:").split("|")
            rows.append((name.strip(), int(own) / 1000, int(cumulative) / 1000))
    return sorted(rows, key=lambda row: -row[1])[:top]


def run(
    repeat: int = 7, handlers: Sequence[str] | None = None, *, seed: int = 0
) -> list[tuple[str, str, str]]:
    """Measure; the table's rows (handler, median cold import ms, multiple of the floor), floor first."""
    return [row.cells() for row in measure(repeat, handlers, seed=seed)]


def measure(
    repeat: int = 7, handlers: Sequence[str] | None = None, *, seed: int = 0, with_clients: bool = False
) -> list[Row]:
    """The floor first, then each handler: `repeat` samples of each, every one paired with a floor sample.

    `with_clients` also makes the clients of the module's adapters after the import, which they otherwise
    make on the first invocation: what a cold start costs in all, against the same floor.

    A pair runs back to back (floor first or second, alternately) so that whatever else loads the machine
    at that moment weighs on both; each handler's multiple is the median of its pairs' multiples.
    """
    by_module = functions()
    modules = [_module(name) for name in handlers] if handlers else list(by_module)
    envs = {module: lambda_environment(by_module[module]) for module in modules}
    floor_env = next(iter(envs.values()))  # the floor runs in a Lambda environment too
    # One untimed run of each: bytecode caches written, files in the page cache, for both sides alike.
    code = {m: _WITH_CLIENTS.format(module=m) if with_clients else f"import {m}" for m in modules}
    _time_import(FLOOR_CODE, floor_env)
    for module in modules:
        _time_import(code[module], envs[module])
    floors: list[tuple[float, float]] = []
    pairs: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {m: [] for m in modules}
    shuffle = random.Random(seed).shuffle
    for rep in range(repeat):
        order = list(modules)
        shuffle(order)
        for index, module in enumerate(order):
            if (rep + index) % 2:
                floor = _time_import(FLOOR_CODE, floor_env)
                sample = _time_import(code[module], envs[module])
            else:
                sample = _time_import(code[module], envs[module])
                floor = _time_import(FLOOR_CODE, floor_env)
            floors.append(floor)
            pairs[module].append((sample, floor))
    median = statistics.median
    rows = [Row(FLOOR, median(w for w, _ in floors) * 1000, median(c for _, c in floors) * 1000, 1.0, 1.0)]
    for module, runs in pairs.items():
        rows.append(
            Row(
                module.removeprefix("pipeline.handlers."),
                median(s[0] for s, _ in runs) * 1000,
                median(s[1] for s, _ in runs) * 1000,
                median(s[0] / f[0] for s, f in runs),
                median(s[1] / f[1] for s, f in runs),
            )
        )
    return rows


def combined_rows(repeat: int = 7) -> list[tuple[str, str, str]]:
    """(measure, value, goal / reference) rows for `make bench`'s combined table; prints nothing."""
    rows = measure(repeat)
    floor = rows[0]
    combined = [
        (
            "handler cold import: floor (import boto3 + 1 client)",
            f"{floor.median_ms:.0f} ms (CPU {floor.cpu_ms:.0f})",
            "reference, same run",
        )
    ]
    for row in rows[1:]:
        combined.append(
            (
                f"handler cold import: {row.name}",
                f"{row.median_ms:.0f} ms = {row.ratio:.2f}x floor (CPU {row.cpu_ratio:.2f}x)",
                f"<= {GOAL}x floor, same run, {repeat} pairs",
            )
        )
    return combined


def table(rows: Sequence[Row], repeat: int, *, with_clients: bool = False) -> Table:
    worst = max((row.ratio for row in rows[1:]), default=0.0)
    verdict = "within" if worst <= GOAL else "over"
    caption = f"worst {worst:.2f}x the floor (wall clock): {verdict} the {GOAL}x goal"
    if with_clients:
        caption = f"worst {worst:.2f}x the floor (wall clock); the {GOAL}x goal is the import's alone"
    what = "cold import + its clients" if with_clients else "cold import"
    result = Table(
        title=f"Lambda handler {what} vs the floor ({repeat} pairs each, medians)",
        caption=caption,
        title_justify="left",
        width=80,
    )
    result.add_column("handler")
    result.add_column("cold import ms", justify="right")
    result.add_column("x floor", justify="right")
    result.add_column("CPU ms", justify="right")
    result.add_column("CPU x floor", justify="right")
    for row in rows:
        style = "bold" if row.name == FLOOR else ("red" if row.ratio > GOAL else None)
        result.add_row(
            row.name,
            f"{row.median_ms:.0f}",
            f"{row.ratio:.2f}",
            f"{row.cpu_ms:.0f}",
            f"{row.cpu_ratio:.2f}",
            style=style,
        )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="samples of each handler (and of the floor)")
    parser.add_argument("--handler", action="append", help="only this module (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--with-clients",
        action="store_true",
        help="also make the clients the handler's adapters make on their first call (after the import)",
    )
    parser.add_argument("--why", metavar="MODULE", help="the modules that cost most in one handler's import")
    args = parser.parse_args(argv)
    console = Console(width=80)
    if args.why:
        module = _module(args.why)
        profile = Table(title=f"python -X importtime {module} (by own time)", width=80)
        for column in ("module", "self ms", "cumulative ms"):
            profile.add_column(column, justify="left" if column == "module" else "right")
        for name, own, cumulative in import_profile(module):
            profile.add_row(name, f"{own:.1f}", f"{cumulative:.1f}")
        console.print(profile)
        return 0
    if args.json:
        rows = measure(args.repeat, args.handler, with_clients=args.with_clients)
        figures = {"repeat": args.repeat, "goal": GOAL, "with_clients": args.with_clients}
        print(json.dumps({**figures, "rows": [asdict(r) for r in rows]}, indent=2))
        return 0
    with console.status("Timing cold imports in fresh interpreters …"):
        rows = measure(args.repeat, args.handler, with_clients=args.with_clients)
    console.print(table(rows, args.repeat, with_clients=args.with_clients))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
