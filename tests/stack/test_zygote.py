"""Workers forked from a zygote: as isolated as processes of their own, and bounded by one budget (issue 10).

Most tests drive a `LambdaRuntime` directly (no moto needed: the functions make no AWS calls); the nested
Invoke test and the no-leak test run a whole embedded AWS.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedded_aws import forkserver
from embedded_aws.runtime import IDLE_FACTOR, FunctionConfig, InvokeResult, LambdaRuntime
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(
    not forkserver.supported(), reason="fork servers need Linux (pidfd, fd passing)"
)

#: A handler that reports what its process sees, or crashes, or sleeps, as the event asks.
PROBE = textwrap.dedent(
    """
    import os, random, signal, sys, time
    import helper

    def _fds():
        kinds = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue  # the listing's own descriptor, closed already
            kinds.append(target.split(":")[0] if ":" in target else target)
        return sorted(kinds)

    def handler(event, context):
        action = event.get("action")
        if action == "exit":
            os._exit(3)
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if action == "client":
            import boto3

            client = boto3.client("s3")
            credentials = client._request_signer._credentials
            return [client.meta.region_name, credentials.access_key, credentials.token]
        if action == "sleep":
            started = time.time()
            time.sleep(event["seconds"])
            return {"start": started, "end": time.time(), "pid": os.getpid()}
        main = sys.modules["__main__"]
        return {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "cwd": os.getcwd(),
            "path": sys.path,
            "env": dict(os.environ),
            "helper": helper.NAME,
            "random": random.random(),
            "main": getattr(main, "__file__", None),
            "zygote_globals": sorted(n for n in ("Zygote", "PRELOAD", "preload") if hasattr(main, n)),
            "argv0": sys.argv[0],
            "fds": _fds(),
            "wakeup_fd": signal.set_wakeup_fd(-1),
            "sigchld_default": signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL,
            "boto3": getattr(sys.modules.get("boto3"), "__file__", None),
        }
    """
)
#: Variables that differ between two workers of one function by design (log stream, trace id).
PER_WORKER = {"AWS_LAMBDA_LOG_STREAM_NAME", "_X_AMZN_TRACE_ID"}


def _code(root: Path, name: str, extra: dict[str, str] | None = None) -> Path:
    code = root / name
    code.mkdir(parents=True)
    (code / "app.py").write_text(PROBE)
    (code / "helper.py").write_text(f"NAME = {name!r}\n")
    for path, text in (extra or {}).items():
        (code / path).parent.mkdir(parents=True, exist_ok=True)
        (code / path).write_text(text)
    return code


def _register(runtime: LambdaRuntime, code: Path, name: str, timeout_s: float = 5.0, **variables: str) -> str:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    runtime.register(FunctionConfig(name, arn, "app.handler", code, timeout_s, environment=variables))
    return name


def _call(runtime: LambdaRuntime, name: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    result = runtime.invoke(name, event or {})
    assert result.error is None, result.error
    payload: dict[str, Any] = json.loads(result.payload)
    return payload


def _alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaRuntime]:
    """One runtime (so one zygote) for the module's tests; each test registers functions of its own."""
    logs = tmp_path_factory.mktemp("zygote-runtime") / "logs"
    lambda_runtime = LambdaRuntime("http://127.0.0.1:9", "us-east-1", logs, log_sink=lambda *_: None)
    yield lambda_runtime
    lambda_runtime.shutdown()


def test_the_zygote_is_python_39_syntax() -> None:
    # Given the zygote's source, When it is parsed as Python 3.9, Then it parses (it runs on python3.9 too)
    ast.parse(forkserver.ZYGOTE.read_text(), feature_version=(3, 9))


def test_a_forked_worker_sees_what_a_worker_started_as_its_own_process_sees(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given one function, run by a runtime with a fork server and by one that starts processes
    code = _code(tmp_path, "probe")
    plain = LambdaRuntime(
        "http://127.0.0.1:9", "us-east-1", tmp_path / "logs", lambda *_: None, fork_server=False
    )
    try:
        _register(plain, code, "probe-plain", SHARED="x")
        _register(runtime, code, "probe-plain", SHARED="x")  # the same name: the same environment

        # When each is invoked cold
        spawned = _call(plain, "probe-plain")
        forked = _call(runtime, "probe-plain")
    finally:
        plain.shutdown()

    # Then the forked worker is a child of the zygote, the other one the runtime's own
    assert forked["ppid"] in runtime.zygotes.pids() if runtime.zygotes else False
    assert spawned["ppid"] == os.getpid()
    # ...and both see the same environment, directory, path, main module and open descriptors
    env = {k: v for k, v in forked["env"].items() if k not in PER_WORKER}
    assert env == {k: v for k, v in spawned["env"].items() if k not in PER_WORKER}
    assert env["SHARED"] == "x"
    assert forked["cwd"] == spawned["cwd"] == str(code)
    assert forked["path"] == spawned["path"]
    assert forked["path"][0] == str(code)
    assert forked["main"] == spawned["main"] == forked["argv0"]
    assert forked["fds"] == spawned["fds"]  # no zygote socket or wakeup pipe leaked into the worker
    # ...and none of the zygote's own state: its globals, its signal wakeup descriptor, its SIGCHLD handler
    assert forked["zygote_globals"] == []
    assert (forked["wakeup_fd"], forked["sigchld_default"]) == (-1, True)
    # ...and a boto3 client made in the handler (from the session the zygote warmed) has the worker's own
    # region and credentials, as in the worker started as its own process
    plain = LambdaRuntime(
        "http://127.0.0.1:9", "us-east-1", tmp_path / "logs", lambda *_: None, fork_server=False
    )
    try:
        _register(plain, code, "probe-plain", SHARED="x")
        spawned_client = json.loads(plain.invoke("probe-plain", {"action": "client"}).payload)
    finally:
        plain.shutdown()
    forked_client = json.loads(runtime.invoke("probe-plain", {"action": "client"}).payload)
    assert forked_client == spawned_client
    assert forked_client == [env["AWS_REGION"], env["AWS_ACCESS_KEY_ID"], env.get("AWS_SESSION_TOKEN")]


def test_two_functions_forked_from_one_zygote_share_no_modules_or_variables(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given two functions whose code dirs both hold helper.py, with one variable set differently
    alpha = _register(runtime, _code(tmp_path, "alpha"), "iso-alpha", SHARED_NAME="alpha", ONLY_ALPHA="1")
    beta = _register(runtime, _code(tmp_path, "beta"), "iso-beta", SHARED_NAME="beta")

    # When each is invoked
    a, b = _call(runtime, alpha), _call(runtime, beta)

    # Then both were forked from the same zygote, yet each sees only its own module and variables
    assert a["ppid"] == b["ppid"] != os.getpid()
    assert a["pid"] != b["pid"]
    assert (a["helper"], b["helper"]) == ("alpha", "beta")
    assert (a["env"]["SHARED_NAME"], b["env"]["SHARED_NAME"]) == ("alpha", "beta")
    assert "ONLY_ALPHA" not in b["env"]
    # ...and the random module was reseeded in each fork (they would draw the zygote's same number otherwise)
    assert a["random"] != b["random"]


def test_the_zygote_environment_does_not_reach_its_workers(tmp_path: Path) -> None:
    # Given a zygote started with a variable of its own
    code = _code(tmp_path, "marker")
    command = [sys.executable, "-u"]
    env = {"PATH": os.environ.get("PATH", ""), "ZYGOTE_ONLY_MARKER": "1"}
    zygote = forkserver.Zygote(command, env, ROOT / "embedded_aws" / "bootstrap.py", tmp_path / "zygote.log")
    runtime = LambdaRuntime("http://127.0.0.1:9", "us-east-1", tmp_path / "logs", lambda *_: None)
    try:
        assert runtime.zygotes is not None
        name = _register(runtime, code, "marker")
        worker_env = runtime.pool(name)._env
        # When a worker is forked from it with the function's environment (the runtime's zygote is swapped)
        runtime.zygotes.get = lambda *_: zygote  # type: ignore[method-assign]
        seen = _call(runtime, name)
    finally:
        runtime.shutdown()
        zygote.stop()

    # Then the worker has exactly the function's environment
    assert seen["ppid"] == zygote.pid
    assert "ZYGOTE_ONLY_MARKER" not in seen["env"]
    assert {k: v for k, v in seen["env"].items() if k not in PER_WORKER} == worker_env


def test_a_worker_that_crashes_is_an_exit_error_and_the_next_call_starts_cold(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a warm worker forked from the zygote
    name = _register(runtime, _code(tmp_path, "crash"), "crasher")
    first = _call(runtime, name)
    zygotes = runtime.zygotes.pids() if runtime.zygotes else []

    # When it exits with status 3, and then (a new worker) is killed by SIGKILL
    exited = runtime.invoke(name, {"action": "exit"})
    killed = runtime.invoke(name, {"action": "kill"})

    # Then each call fails as Lambda reports a runtime that ended, worded with its status or signal
    assert exited.error_type == killed.error_type == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in str(exited.error)
    assert "Runtime exited with error: signal: killed" in str(killed.error)
    assert not _alive(first["pid"])
    # ...the next call starts a new worker that succeeds, forked from the same zygote, which lives on
    again = runtime.invoke(name, {})
    assert (again.error, again.cold_start) == (None, True)
    assert json.loads(again.payload)["ppid"] in zygotes
    assert runtime.zygotes is not None and runtime.zygotes.pids() == zygotes
    assert runtime.stats()[name][1].cold_starts == 3


def test_a_worker_past_its_timeout_is_killed_and_the_zygote_survives(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a function with a 1 second timeout and its warm worker
    name = _register(runtime, _code(tmp_path, "slow"), "slow", timeout_s=1.0)
    pid = _call(runtime, name)["pid"]
    zygotes = runtime.zygotes.pids() if runtime.zygotes else []

    # When it sleeps for 30 seconds
    result = runtime.invoke(name, {"action": "sleep", "seconds": 30})

    # Then the call is a Lambda timeout, its worker is gone, and the zygote still forks the next worker
    assert result.error_type == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in str(result.error)
    assert not _alive(pid)
    assert all(_alive(z) for z in zygotes)
    again = _call(runtime, name)
    assert again["pid"] != pid and again["ppid"] in zygotes


def test_a_zygote_that_dies_is_started_again_on_the_next_cold_start(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a warm worker and its zygote
    name = _register(runtime, _code(tmp_path, "phoenix"), "phoenix")
    first = _call(runtime, name)
    assert runtime.zygotes is not None

    # When the zygote is killed
    os.kill(first["ppid"], signal.SIGKILL)
    assert poll_until(lambda: first["ppid"] not in runtime.zygotes.pids(), timeout_s=10)  # type: ignore[union-attr]

    # Then its worker, whose end no one could report any more, is gone; the next call forks from a new zygote
    assert poll_until(lambda: not _alive(first["pid"]), timeout_s=10)
    again = _call(runtime, name)
    assert again["ppid"] in runtime.zygotes.pids()
    assert again["ppid"] != first["ppid"]


def test_a_function_that_bundles_its_own_boto3_gets_its_own_copy(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a function whose code dir vendors a package named boto3 (which the zygote has preloaded)
    code = _code(tmp_path, "vendored", {"boto3/__init__.py": "VENDORED = True\n"})
    code.joinpath("app.py").write_text(PROBE + "\nimport boto3\nassert boto3.VENDORED\n")
    name = _register(runtime, code, "vendored")

    # When it is invoked
    seen = _call(runtime, name)

    # Then its worker is a process of its own (a fork would hold the preloaded boto3), importing its copy
    assert seen["ppid"] == os.getpid()
    assert seen["boto3"] == str(code / "boto3" / "__init__.py")


def _concurrently(runtime: LambdaRuntime, calls: list[tuple[str, dict[str, Any]]]) -> list[InvokeResult]:
    """Invoke each (name, event) in a thread of its own, each once the one before it has taken its place."""
    results: dict[int, InvokeResult] = {}
    threads = []
    for index, (name, event) in enumerate(calls):
        busy = runtime.budget.running + runtime.budget.waiting()
        thread = threading.Thread(
            target=lambda i=index, n=name, e=event: results.__setitem__(i, runtime.invoke(n, e)), daemon=True
        )
        thread.start()
        threads.append(thread)
        assert poll_until(
            lambda b=busy: runtime.budget.running + runtime.budget.waiting() > b,  # type: ignore[misc]
            timeout_s=10,
        )
    for thread in threads:
        thread.join(60)
    return [results[i] for i in range(len(calls))]


def test_with_one_worker_two_functions_called_at_once_both_run_one_after_the_other(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a budget of one worker and two functions
    first = _register(runtime, _code(tmp_path, "one"), "budget-one")
    second = _register(runtime, _code(tmp_path, "two"), "budget-two")
    limit, runtime.budget.limit = runtime.budget.limit, 1
    try:
        # When both are invoked at once
        a, b = _concurrently(
            runtime,
            [(first, {"action": "sleep", "seconds": 0.5}), (second, {"action": "sleep", "seconds": 0.5})],
        )
    finally:
        runtime.budget.limit = limit

    # Then both complete, and the second handler started only once the first had ended
    assert (a.error, b.error) == (None, None)
    assert json.loads(a.payload)["end"] <= json.loads(b.payload)["start"]


def test_a_function_waiting_for_a_worker_does_not_time_out_while_it_waits(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a budget of one worker, a function with room to run 2 s, and one with a 1 s timeout
    long = _register(runtime, _code(tmp_path, "long"), "budget-long", timeout_s=5.0)
    short = _register(runtime, _code(tmp_path, "short"), "budget-short", timeout_s=1.0)
    limit, runtime.budget.limit = runtime.budget.limit, 1
    try:
        # When the short one is invoked while the long one runs for 2 s
        a, b = _concurrently(
            runtime, [(long, {"action": "sleep", "seconds": 2}), (short, {"action": "sleep", "seconds": 0.1})]
        )
    finally:
        runtime.budget.limit = limit

    # Then the short one waited for the slot without its timeout counting, and succeeded
    assert (a.error, b.error) == (None, None)
    assert json.loads(a.payload)["end"] <= json.loads(b.payload)["start"]


def test_idle_workers_past_the_cap_are_stopped_least_recently_used_first(
    runtime: LambdaRuntime, tmp_path: Path
) -> None:
    # Given a budget of one (so at most IDLE_FACTOR live workers), and one function more than that invoked one
    # after another
    limit, runtime.budget.limit = runtime.budget.limit, 1
    try:
        count = IDLE_FACTOR + 1
        names = [_register(runtime, _code(tmp_path, f"f{i}"), f"lru-{i}") for i in range(count)]
        before = {name: runtime.pool(name).worker_pids() for name in names}
        pids = [_call(runtime, name)["pid"] for name in names]
        live = sum(len(runtime.pool(name).worker_pids()) for name in names)
    finally:
        runtime.budget.limit = limit

    # Then the first function's idle worker was stopped to make room, the later ones stay warm
    assert before == {name: [] for name in names}
    assert not _alive(pids[0])
    assert runtime.pool(names[0]).worker_pids() == []
    assert runtime.pool(names[-1]).worker_pids() == [pids[-1]]
    assert live <= runtime.max_live_workers


NESTED_TEMPLATE = """\
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Resources:
  Callee:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: callee/
      Handler: app.handler
      Runtime: python3.11
  Caller:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: caller/
      Handler: app.handler
      Runtime: python3.11
      Timeout: 20
      Environment:
        Variables:
          CALLEE: !Ref Callee
      Policies:
        - LambdaInvokePolicy:
            FunctionName: !Ref Callee
Outputs:
  CallerName:
    Value: !Ref Caller
"""
CALLER = """\
import json, os
import boto3

def handler(event, context):
    response = boto3.client("lambda").invoke(FunctionName=os.environ["CALLEE"], Payload=b'{"n": 1}')
    return {"callee": json.loads(response["Payload"].read())}
"""


def test_a_handler_invoking_another_function_with_one_worker_does_not_deadlock(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Given a function that invokes another synchronously, on a stack with a budget of one worker
    (tmp_path / "callee").mkdir()
    (tmp_path / "callee" / "app.py").write_text("def handler(event, context):\n    return event['n'] + 1\n")
    (tmp_path / "caller").mkdir()
    (tmp_path / "caller" / "app.py").write_text(CALLER)
    (tmp_path / "template.yaml").write_text(NESTED_TEMPLATE)
    stack = aws.deploy(tmp_path / "template.yaml", "nested-invoke")
    limit = aws.runtime.budget.limit
    aws.runtime.budget.limit = 1
    try:
        # When the caller is invoked (it holds the only slot while its callee runs)
        response = aws.client("lambda").invoke(FunctionName=stack.outputs["CallerName"], Payload=b"{}")
    finally:
        aws.runtime.budget.limit = limit
        aws.delete("nested-invoke")

    # Then the callee ran without waiting for a slot, and the caller got its answer
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"callee": 2}


STOP_SCRIPT = """\
import json, sys
from pathlib import Path
from embedded_aws.stack import EmbeddedAws

port, state, template = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
aws = EmbeddedAws(port, state_dir=state).start()
try:
    stack = aws.deploy(template, "leaks")
    lam = aws.client("lambda")
    lam.invoke(FunctionName=stack.outputs["CallerName"], Payload=b"{}")
    pids = aws.runtime.process_ids()
    zygotes = aws.runtime.zygotes.pids()
finally:
    aws.stop()


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


print(json.dumps({"pids": pids, "zygotes": zygotes, "alive": [pid for pid in pids if alive(pid)]}))
"""


def test_no_worker_or_zygote_outlives_the_embedded_aws(tmp_path: Path) -> None:
    # Given an embedded AWS in a process of its own, whose functions ran on forked workers
    from tests.conftest import free_port

    (tmp_path / "callee").mkdir()
    (tmp_path / "callee" / "app.py").write_text("def handler(event, context):\n    return event['n'] + 1\n")
    (tmp_path / "caller").mkdir()
    (tmp_path / "caller" / "app.py").write_text(CALLER)
    (tmp_path / "template.yaml").write_text(NESTED_TEMPLATE)
    script = tmp_path / "stop.py"
    script.write_text(STOP_SCRIPT)

    # When it stops (its process checks right after, before it ends: its zygote would end with it)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(free_port()),
            str(tmp_path / "state"),
            str(tmp_path / "template.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then every worker and zygote it ran is gone
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(seen["zygotes"]) == 1
    assert len(seen["pids"]) == 3  # caller, callee, zygote
    assert seen["alive"] == []
    assert [pid for pid in seen["pids"] if _alive(pid)] == []
