"""The local Lambda runtime: each function in warm worker processes of its own (DESIGN.md D4).

A worker is a fresh Python process whose working directory and first path entry are the function's
CodeUri, whose environment is the function's (template variables plus what Lambda sets), and whose module
globals live as long as the worker: a warm start reuses it, a cold start makes one. An invocation that runs
past the function's timeout stops the worker and is reported as `Sandbox.Timedout`, as on AWS.

A worker runs on the Python its `Runtime` names when one is installed (see `interpreters`), with the log
format and levels of its `LoggingConfig`; a response over Lambda's 6 MB limit is an error, as on AWS.

A cold start forks the worker from a zygote of its interpreter (`zygote.py`, `forkserver`) that has imported
the AWS SDK, pydantic and Powertools already; the function's environment, directory and path are set after
the fork, so a worker is what a process of its own would be, a second sooner. At most `workers` invocations
run at once across the stack (`budget`); the rest wait their turn, and a function's timeout counts from when
its handler starts. Idle workers past `IDLE_FACTOR` times the budget are stopped, least recently used first.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import functools
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from embedded_aws import forkserver, interpreters, lambda_logs
from embedded_aws.budget import WorkerBudget
from embedded_aws.errors import EmbeddedAwsError, ThrottledError
from embedded_aws.faults import Faults
from embedded_aws.formats import function_name, iso_millis
from embedded_aws.interpreters import HOST_LAYER_VARIABLE

log = logging.getLogger(__name__)

#: The worker's entry point, run as a file so `ps` shows what each process is.
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
#: Lambda's init phase limit for on-demand functions.
INIT_TIMEOUT_S = 10.0
#: Concurrent executions per function when it sets no ReservedConcurrentExecutions.
DEFAULT_CONCURRENCY = 10
#: Parent variables a worker keeps; everything else comes from the function's configuration.
_INHERITED = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")
#: Lambda's limit on a synchronous response payload, and the error past it (as Lambda words it).
MAX_RESPONSE_BYTES = 6_291_556
#: Levels of the advanced logging controls, most detailed first (`SystemLogLevel`, `ApplicationLogLevel`).
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_SIGNALS = {int(signal.SIGKILL): "killed", int(signal.SIGTERM): "terminated", int(signal.SIGABRT): "aborted"}


#: The worker's `sys.path` entries for the function's layers, after its code (`bootstrap.py` reads it).
LAYER_PATHS_VARIABLE = "EMBEDDED_AWS_LAYER_PATHS"


def layer_paths(layer_dirs: tuple[Path, ...], runtime: str | None) -> list[str]:
    """Where each layer's modules are, as Lambda mounts them at `/opt`: `python/lib/pythonX.Y/site-packages`
    and `python/` when the layer has them, else the layer's directory itself (SAM puts a Python layer's
    sources under `python/` when it builds it)."""
    paths: list[str] = []
    version = (runtime or "").removeprefix("python")
    for layer in layer_dirs:
        python = layer / "python"
        if not python.is_dir():
            paths.append(str(layer))
            continue
        site = python / "lib" / f"python{version}" / "site-packages"
        paths.extend(str(p) for p in (site, python) if p.is_dir())
    return paths


@dataclass(frozen=True)
class FunctionConfig:
    """What the runtime needs to know about one function."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    timeout_s: float = 3.0
    memory_mb: int = 128
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    #: Lambda's `Runtime` (`python3.12`); None runs on the host's Python without a note.
    runtime: str | None = None
    #: `LoggingConfig` as GetFunctionConfiguration returns it: LogFormat, ApplicationLogLevel, SystemLogLevel,
    #: LogGroup.
    logging_config: dict[str, str] = field(default_factory=dict)
    #: The execution role's session (`AWS_ACCESS_KEY_ID`, ...); empty when IAM is off: the admin's keys.
    credentials: dict[str, str] = field(default_factory=dict)
    #: Its layers' local directories, in order: their `python/` folders go on `sys.path` after the code, as
    #: Lambda puts `/opt/python` there.
    layer_dirs: tuple[Path, ...] = ()

    @property
    def log_format(self) -> str:
        return self.logging_config.get("LogFormat", "Text")

    @property
    def log_group(self) -> str:
        return self.logging_config.get("LogGroup") or f"/aws/lambda/{self.name}"


@dataclass
class InvokeResult:
    """One invocation's outcome: a JSON payload, and the error when the function failed."""

    request_id: str
    payload: str
    error: dict[str, Any] | None
    duration_ms: float
    cold_start: bool
    #: The invocation's log (START to REPORT), waiting briefly for the last lines: Invoke's `LogType: Tail`.
    log: Callable[[], str] | None = field(default=None, repr=False, compare=False)

    @property
    def errored(self) -> bool:
        return self.error is not None

    @property
    def error_type(self) -> str | None:
        return None if self.error is None else str(self.error.get("errorType"))


@dataclass
class FunctionStats:
    """Counters shown to a person: invocations, errors, timeouts, cold starts."""

    invocations: int = 0
    errors: int = 0
    timeouts: int = 0
    cold_starts: int = 0
    total_ms: float = 0.0
    #: The Python the workers run on, and why when it is not the one `Runtime` names (empty when it is).
    interpreter: str = ""
    interpreter_note: str = ""


#: Bytes of an invocation's log kept for Invoke's `LogType: Tail` (Lambda returns the last 4 KB).
TAIL_BYTES = 4096
#: Lines through the log pipe that mark where an invocation's log starts and ends; never written out.
_MARK = b"\x00embedded-aws "
_last = threading.local()


def last_invocation() -> InvokeResult | None:
    """The result of the latest invocation this thread made (what the Invoke API answers with)."""
    result: InvokeResult | None = getattr(_last, "result", None)
    return result


#: Where log lines go besides the file: (function ARN, log group, log stream, [(epoch ms, line)]).
LogSink = Callable[[str, str, str, list[tuple[int, str]]], None]


class _WorkerGoneError(Exception):
    """The worker process ended or went silent past its deadline."""

    def __init__(self, timed_out: bool, detail: str) -> None:
        super().__init__(detail)
        self.timed_out = timed_out


class Worker:
    """One execution environment: a process that imported the handler and serves invocations."""

    def __init__(
        self,
        config: FunctionConfig,
        env: dict[str, str],
        log_path: Path,
        interpreter: interpreters.Interpreter | None = None,
        sink: LogSink | None = None,
        zygote: forkserver.Zygote | None = None,
    ) -> None:
        """Start the worker's process: a process of its own, or a fork of `zygote` (raises `ZygoteError`
        when that zygote cannot fork, OSError as `subprocess` does when no process can start)."""
        self.config = config
        #: When it last finished an invocation (monotonic): the least recently used idle worker goes first.
        self.last_used = time.monotonic()
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()
        # The function's output and the platform's lines share one pipe, so they stay in order; a pump
        # thread appends them to the log file and hands them to the sink (CloudWatch Logs).
        log_r, self._log_w = os.pipe()
        self._log = log_path.open("ab")
        self._sink = sink
        self.json_logs = config.log_format == "JSON"
        # One log stream per execution environment, named as Lambda names them.
        self.log_stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        env = {**env, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        self.process: subprocess.Popen[bytes] | forkserver.ForkedProcess
        try:
            if zygote is not None:  # the same process, forked from one that has imported the SDK already
                self.process = zygote.spawn(env, config.code_dir, (to_child_r, from_child_w, self._log_w))
            else:
                self.process = subprocess.Popen(
                    [*worker_command(interpreter), str(BOOTSTRAP), str(to_child_r), str(from_child_w)],
                    cwd=config.code_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=self._log_w,
                    stderr=subprocess.STDOUT,
                    pass_fds=(to_child_r, from_child_w),
                    start_new_session=True,
                )
        except (OSError, forkserver.ZygoteError):  # no process: close what was opened for it
            for fd in (to_child_r, self._to_child_w, self._from_child_r, from_child_w, log_r, self._log_w):
                os.close(fd)
            self._log.close()
            raise
        os.close(to_child_r)
        os.close(from_child_w)
        self._writer: IO[bytes] = os.fdopen(self._to_child_w, "wb", buffering=0)
        self._buffer = b""
        self.init_ms = 0.0
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._captured = threading.Condition()
        self._capture: tuple[str, collections.deque[str]] | None = None
        self._logs: dict[str, str] = {}  # request id → its log's tail, for the latest few invocations
        self._pump = threading.Thread(
            target=self._drain, args=(log_r,), name=f"lambda-log-{config.name}", daemon=True
        )
        self._pump.start()

    def _drain(self, log_r: int) -> None:
        """Copy the worker's output to the log file and the sink, line by line, until every writer closed."""
        pending = b""
        with os.fdopen(log_r, "rb", buffering=0) as reader:
            while True:
                chunk = reader.read(1 << 16)
                if chunk:
                    pending += chunk
                    if b"\n" not in pending:
                        continue
                    complete, _, pending = pending.rpartition(b"\n")
                    data = complete + b"\n"
                elif pending:
                    data, pending = pending + b"\n", b""
                else:
                    break
                if _MARK in data or self._capture is not None:
                    data = self._capture_lines(data)
                self._log.write(data)
                self._log.flush()
                if self._sink is not None:
                    now = int(time.time() * 1000)
                    lines = [(now, x) for x in data.decode("utf-8", "replace").split("\n") if x]
                    if lines:  # CloudWatch Logs takes no empty messages
                        self._sink(self.config.arn, self.config.log_group, self.log_stream, lines)
        self._log.close()
        with self._captured:
            self._capture = None
            self._captured.notify_all()

    def _capture_lines(self, data: bytes) -> bytes:
        """Keep the tail of the current invocation's lines; returns `data` without the marks."""
        kept: list[bytes] = []
        for line in data.split(b"\n")[:-1]:
            if line.startswith(_MARK):
                kind, _, request_id = line[len(_MARK) :].decode().partition(" ")
                with self._captured:
                    if kind == "start":
                        self._capture = (request_id, collections.deque())
                    elif self._capture is not None and self._capture[0] == request_id:
                        self._logs[request_id] = "".join(self._capture[1])[-TAIL_BYTES:]
                        while len(self._logs) > 8:
                            del self._logs[next(iter(self._logs))]
                        self._capture = None
                        self._captured.notify_all()
                continue
            kept.append(line)
            if self._capture is not None:
                lines = self._capture[1]
                lines.append(line.decode("utf-8", "replace") + "\n")
                while len(lines) > 1 and sum(map(len, lines)) > TAIL_BYTES:
                    lines.popleft()
        return b"".join(x + b"\n" for x in kept)

    def mark(self, kind: str, request_id: str) -> None:
        """Mark where an invocation's log starts (`start`) or ends (`end`) in the log stream."""
        with contextlib.suppress(OSError):
            os.write(self._log_w, _MARK + f"{kind} {request_id}\n".encode())

    def log_of(self, request_id: str, timeout_s: float = 10.0) -> str:
        """The last 4 KB of an invocation's log, once its end reached the pump (or the worker ended)."""
        with self._captured:
            self._captured.wait_for(
                lambda: request_id in self._logs or not self._pump.is_alive(), timeout=timeout_s
            )
            return self._logs.get(request_id, "")

    def wait_ready(self) -> dict[str, Any] | None:
        """Wait for the init phase; returns the init error, if any."""
        message = self._read(time.monotonic() + max(INIT_TIMEOUT_S, self.config.timeout_s))
        if message["type"] == "init_error":
            return dict(message["error"])
        self.init_ms = float(message.get("init_ms", 0.0))
        return None

    def invoke(
        self, request_event: str, request_id: str, trace_id: str, crash_after_s: float | None = None
    ) -> dict[str, Any]:
        """Send one event (JSON text); returns the worker's reply, or raises `_WorkerGoneError`.

        `crash_after_s` (fault injection) kills the process that many seconds in, or as its reply comes
        if that is sooner: the reply is then never read."""
        deadline = time.monotonic() + self.config.timeout_s
        deadline_ms = int(time.time() * 1000 + self.config.timeout_s * 1000)
        request = {
            "request_id": request_id,
            "deadline_ms": deadline_ms,
            "invoked_function_arn": self.config.arn,
            "trace_id": trace_id,
        }
        try:
            line = json.dumps(request)[:-1] + f', "event": {request_event}}}'
            self._writer.write(line.encode() + b"\n")
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerGoneError(False, f"the worker could not take the request: {exc}") from exc
        crash_at = None if crash_after_s is None else time.monotonic() + crash_after_s
        return self._read(deadline, crash_at)

    def _read(self, deadline: float, crash_at: float | None = None) -> dict[str, Any]:
        with selectors.DefaultSelector() as selector:
            selector.register(self._from_child_r, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                now = time.monotonic()
                if crash_at is not None and now >= crash_at:
                    self.process.kill()  # an injected crash: the pipe ends below, as for any dead worker
                    crash_at = None
                remaining = deadline - now
                wake = remaining if crash_at is None else min(remaining, crash_at - now)
                if remaining <= 0 or not selector.select(wake):
                    if wake < remaining:
                        continue  # woken to crash the worker
                    raise _WorkerGoneError(True, "timed out")
                chunk = os.read(self._from_child_r, 1 << 20)
                if not chunk:
                    raise _WorkerGoneError(False, _exit_reason(self.process.wait()))
                self._buffer += chunk
        if crash_at is not None:  # the reply came before the injected crash: the process dies unread
            self.process.kill()
            self._buffer = b""
            raise _WorkerGoneError(False, _exit_reason(self.process.wait()))
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def log(self, line: str) -> None:
        with contextlib.suppress(OSError):  # stopped: nothing more reaches its log
            os.write(self._log_w, line.encode() + b"\n")

    def platform(self, kind: str, text: str, record: dict[str, Any]) -> None:
        """A platform (system) log line: Lambda's text form, or its JSON form with LogFormat JSON."""
        if not self.json_logs:
            self.log(text)
            return
        self.log(json.dumps({"time": iso_millis(), "type": f"platform.{kind}", "record": record}))

    def ask_to_exit(self) -> None:
        """Close the worker's input: it ends by itself once its current invocation (if any) is answered."""
        with contextlib.suppress(OSError):
            self._writer.close()

    def stop(self, grace_s: float = 0.0) -> None:
        """End the process: politely (close its input) when given grace, else at once. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        if self.process.poll() is None:
            if grace_s > 0:
                self._writer.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(grace_s)
            if self.process.poll() is None:
                if isinstance(self.process, forkserver.ForkedProcess):
                    self.process.kill_group()
                else:
                    with contextlib.suppress(ProcessLookupError):  # it may have just ended by itself
                        os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._writer.close()
        for fd in (self._from_child_r, self._log_w):
            with contextlib.suppress(OSError):  # already closed by an earlier stop
                os.close(fd)
        # Its last lines reach the log before stop returns (unless a child of the handler holds the pipe).
        self._pump.join(timeout=2.0)


def worker_command(interpreter: interpreters.Interpreter | None) -> list[str]:
    """The interpreter and flags a worker (or its zygote) runs with. A foreign interpreter sees no user
    site-packages: only the code and LAMBDA_RUNTIME_DIR."""
    if interpreter is None or interpreter.host:
        return [sys.executable, "-u"]
    return [interpreter.executable, "-s", "-u"]


def _exit_reason(code: int) -> str:
    """How Lambda words a runtime process that ended during an invocation."""
    if code == 0:
        return "Runtime exited without providing a reason"
    if code < 0:
        number = -code
        known = number in signal.valid_signals()
        name = _SIGNALS.get(number) or (signal.Signals(number).name if known else str(number))
        return f"Runtime exited with error: signal: {name}"
    return f"Runtime exited with error: exit status {code}"


class FunctionPool:
    """The warm workers of one function, at most its concurrency limit at once."""

    def __init__(
        self,
        config: FunctionConfig,
        endpoint_url: str,
        region: str,
        log_dir: Path,
        runtime_dir: Callable[[tuple[int, int]], tuple[Path, list[str]]] | None = None,
        sink: LogSink | None = None,
        *,
        budget: WorkerBudget | None = None,
        zygotes: forkserver.Zygotes | None = None,
        make_room: Callable[[], None] | None = None,
    ) -> None:
        """`budget` is the stack's (a pool alone has one of its own); `zygotes` fork its workers when given;
        `make_room` is called before a worker starts, to stop idle workers past the stack's cap."""
        self.config = config
        self._sink = sink
        self.stats = FunctionStats()
        self.log_path = log_dir / f"{config.name}.log"
        self.interpreter: interpreters.Interpreter | None = None
        self._runtime_dir: Path | None = None
        if config.runtime is not None:
            self.interpreter = interpreters.resolve(
                config.runtime,
                config.code_dir,
                layer_dirs=config.layer_dirs,
                host_layer=config.environment.get(HOST_LAYER_VARIABLE),
            )
            notes = [self.interpreter.note] if self.interpreter.note else []
            missing: list[str] = []
            if runtime_dir is not None:
                self._runtime_dir, missing = runtime_dir(self.interpreter.version)
                if missing and not self.interpreter.host:
                    notes.append(f"not importable on {self.interpreter.label}: {', '.join(missing)}")
            self.stats.interpreter = self.interpreter.label
            self.stats.interpreter_note = "; ".join(notes)
            if self.stats.interpreter_note:
                # A missing interpreter or package is a warning; running on the host by choice is not.
                alarming = self.interpreter.missing or (missing and not self.interpreter.host)
                level = logging.WARNING if alarming else logging.INFO
                log.log(level, "Function %s %s", config.name, self.stats.interpreter_note)
        self._idle: collections.deque[Worker] = collections.deque()
        self._all: set[Worker] = set()  # idle and busy: what close() must stop
        self._lock = threading.Lock()
        #: Concurrent invocations of this function at most (its reserved concurrency, or the local default).
        self.cap = config.reserved_concurrency or DEFAULT_CONCURRENCY
        self._budget = budget or WorkerBudget(self.cap)
        self._zygotes = zygotes
        self._make_room = make_room
        self._fork_refused = False  # its code bundles a module its zygote preloads: never forked
        self._env = self._environment(endpoint_url, region)
        self._closed = False

    def _environment(self, endpoint_url: str, region: str) -> dict[str, str]:
        env = {k: os.environ[k] for k in _INHERITED if k in os.environ}
        env.update(
            {
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                **self.config.credentials,
                "AWS_ENDPOINT_URL": endpoint_url,
                "AWS_LAMBDA_FUNCTION_NAME": self.config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.config.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": self.config.log_group,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{self.config.runtime or 'python_local'}",
                "LAMBDA_TASK_ROOT": str(self.config.code_dir),
                LAYER_PATHS_VARIABLE: os.pathsep.join(
                    layer_paths(self.config.layer_dirs, self.config.runtime)
                ),
                "_HANDLER": self.config.handler,
                "TZ": ":UTC",
                # What `sam local` sets: Powertools Tracer then stays off, as there is no X-Ray daemon here.
                "AWS_SAM_LOCAL": "true",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        if self._runtime_dir is not None:
            env["LAMBDA_RUNTIME_DIR"] = str(self._runtime_dir)
            # A foreign interpreter has no compiled boto3: without a cache every cold start compiles botocore
            # (seconds). Its bytecode goes to one cache beside the runtime packages, never into code dirs.
            del env["PYTHONDONTWRITEBYTECODE"]
            env["PYTHONPYCACHEPREFIX"] = str(self._runtime_dir.parent / "pycache")
        env.update(self._logging_environment())
        env.update({k: str(v) for k, v in self.config.environment.items()})  # Lambda has only strings
        return env

    def _logging_environment(self) -> dict[str, str]:
        """What Lambda sets for the advanced logging controls (a level only with LogFormat JSON)."""
        if self.config.log_format != "JSON":
            return {"AWS_LAMBDA_LOG_FORMAT": "Text"}
        level = self.config.logging_config.get("ApplicationLogLevel", "INFO")
        return {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}

    def _system_logs(self) -> bool:
        """Whether INFO-level platform lines (START, END, REPORT) pass the function's SystemLogLevel."""
        if self.config.log_format != "JSON":
            return True
        level = self.config.logging_config.get("SystemLogLevel", "INFO")
        return LOG_LEVELS.index(level if level in LOG_LEVELS else "INFO") <= LOG_LEVELS.index("INFO")

    def _take_worker(self) -> Worker | None:
        """A warm worker, skipping any that died while idle (an OOM kill, say): those mean a cold start."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                worker = self._idle.pop()
            if worker.process.poll() is None:
                return worker
            worker.stop()

    def _failure(self, request_id: str, gone: _WorkerGoneError, phase: str) -> dict[str, Any]:
        if gone.timed_out:
            limit = INIT_TIMEOUT_S if phase == "init" else self.config.timeout_s
            message = f"{'Init' if phase == 'init' else 'Task'} timed out after {limit:.2f} seconds"
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: {message}",
            }
        return {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {gone}"}

    def invoke(self, event: Any, *, nested: bool = False, crash_after_s: float | None = None) -> InvokeResult:
        """Run one invocation on a warm worker, or a new one (a cold start), once the stack's worker budget
        and the function's own cap let it run (a `nested` invocation, made by a handler waiting for it, does
        not wait for the budget). Its timeout counts from when the handler starts, never while it waits.
        `crash_after_s` kills the worker that far into the handler (an injected crash, see `faults`).

        Every path either returns the worker to the pool or stops it: none is left running unaccounted.
        """
        request_id = str(uuid.uuid4())
        trace_id = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
        request = json.dumps(event)  # an event that cannot be serialised fails here, before a worker is taken
        if self.config.reserved_concurrency == 0:
            raise ThrottledError(
                f"Function {self.config.name} has ReservedConcurrentExecutions 0: throttled."
            )
        with self._budget.slot(self, self.cap, nested=nested):
            if self._closed:
                raise EmbeddedAwsError(f"Function {self.config.name} is no longer deployed.")
            started = time.perf_counter()
            worker = self._take_worker()
            cold = worker is None
            error: dict[str, Any] | None = None
            keep = False
            try:
                if worker is None:
                    worker = self._spawn()
                    worker.mark("start", request_id)
                    try:
                        error = worker.wait_ready()
                    except _WorkerGoneError as gone:
                        error = self._failure(request_id, gone, "init")
                    if error is not None:
                        worker.platform(
                            "initReport",
                            f"INIT_REPORT Init Duration: {(time.perf_counter() - started) * 1000:.2f} ms\t"
                            f"Phase: init\tStatus: error\tError Type: {error['errorType']}",
                            {
                                "initializationType": "on-demand",
                                "phase": "init",
                                "status": "error",
                                "errorType": error["errorType"],
                            },
                        )
                        worker.mark("end", request_id)
                        failed = InvokeResult(request_id, json.dumps(error), error, 0.0, True)
                        failed.log = functools.partial(worker.log_of, request_id)
                        return self._record(failed, started)
                if not cold:
                    worker.mark("start", request_id)
                if self._system_logs():
                    worker.platform(
                        "start",
                        f"START RequestId: {request_id} Version: $LATEST",
                        {"requestId": request_id, "version": "$LATEST"},
                    )
                try:
                    reply = worker.invoke(request, request_id, trace_id, crash_after_s)
                except _WorkerGoneError as gone:
                    error = self._failure(request_id, gone, "invoke")
                    if gone.timed_out:  # as Lambda logs it: `<time> <request id> Task timed out after …`
                        now = time.time()
                        stamp = (
                            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
                            + f".{int(now * 1000) % 1000:03d}Z"
                        )
                        worker.log(f"{stamp} {request_id} {error['errorMessage'].split('Error: ', 1)[-1]}")
                    else:
                        worker.log(f"{error['errorMessage']}\n{error['errorType']}")
                    payload = json.dumps(error)
                else:
                    keep = True
                    if reply["type"] == "error":
                        error = reply["error"]
                        payload = json.dumps(error)
                    elif len(reply["payload"].encode("utf-8", "surrogateescape")) > MAX_RESPONSE_BYTES:
                        error = {
                            "errorMessage": "Response payload size exceeded maximum allowed payload size "
                            f"({MAX_RESPONSE_BYTES} bytes).",
                            "errorType": "Function.ResponseSizeTooLarge",
                        }
                        payload = json.dumps(error)
                    else:
                        payload = reply["payload"]
                result = self._record(InvokeResult(request_id, payload, error, 0.0, cold), started, worker)
                worker.mark("end", request_id)
                result.log = functools.partial(worker.log_of, request_id)
            finally:
                if worker is not None:
                    if keep:
                        self._release(worker)
                    else:
                        self._retire(worker)
            return result

    def _spawn(self) -> Worker:
        if self._make_room is not None:
            self._make_room()
        zygote = self._zygote()
        try:
            worker = Worker(self.config, self._env, self.log_path, self.interpreter, self._sink, zygote)
        except forkserver.ZygoteError as exc:  # that zygote is gone or broken: a process of its own
            log.warning(
                "Function %s: the fork server did not fork (%s); starting a process", self.config.name, exc
            )
            worker = Worker(self.config, self._env, self.log_path, self.interpreter, self._sink)
        with self._lock:
            self._all.add(worker)
        return worker

    def prepare(self) -> None:
        """Start the fork server this function's workers will come from (about a second of CPU), so that its
        first cold start does not wait for it."""
        try:
            self._zygote()
        except Exception:  # the first cold start tries again, and falls back to a plain process
            log.warning("Function %s: the fork server did not start ahead", self.config.name, exc_info=True)

    def _zygote(self) -> forkserver.Zygote | None:
        """The zygote to fork this function's worker from, if any.

        A function whose code directory has its own copy of a module the zygote preloaded (a vendored
        boto3, say) starts as a process of its own: on Lambda the code directory comes first on the path,
        and a forked worker would keep the preloaded copy.
        """
        if self._zygotes is None or self._fork_refused:
            return None
        zygote = self._zygotes.get(worker_command(self.interpreter), self._env)
        if zygote is None:
            return None
        shadowed = zygote.modules & forkserver.top_level_names(self.config.code_dir)
        if shadowed:
            self._fork_refused = True
            log.info(
                "Function %s bundles %s, which the fork server preloads: its workers start as processes of "
                "their own, so its own copy is the one imported",
                self.config.name,
                ", ".join(sorted(shadowed)),
            )
            return None
        return zygote

    def _retire(self, worker: Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.stop()

    def _record(self, result: InvokeResult, started: float, worker: Worker | None = None) -> InvokeResult:
        result.duration_ms = (time.perf_counter() - started) * 1000
        with self._lock:
            self.stats.invocations += 1
            self.stats.cold_starts += int(result.cold_start)
            self.stats.errors += int(result.errored)
            self.stats.timeouts += int(result.error_type == "Sandbox.Timedout")
            self.stats.total_ms += result.duration_ms
        if worker is not None and worker.process.poll() is None and self._system_logs():
            self._report(worker, result)
        return result

    def _report(self, worker: Worker, result: InvokeResult) -> None:
        if not worker.json_logs:
            worker.log(f"END RequestId: {result.request_id}")
        init = f"\tInit Duration: {worker.init_ms:.2f} ms" if result.cold_start else ""
        metrics: dict[str, Any] = {
            "durationMs": round(result.duration_ms, 2),
            "billedDurationMs": int(result.duration_ms) + 1,
            "memorySizeMB": self.config.memory_mb,
        }
        if result.cold_start:
            metrics["initDurationMs"] = round(worker.init_ms, 2)
        status = "success" if result.error is None else "error"
        record: dict[str, Any] = {"requestId": result.request_id, "metrics": metrics, "status": status}
        if result.error is not None:
            record["errorType"] = result.error_type
        status = ""
        if result.error_type == "Sandbox.Timedout":
            status = "\tStatus: timeout"
        elif result.error_type and result.error_type.startswith(("Runtime.", "Function.")):
            status = f"\tStatus: error\tError Type: {result.error_type}"
        worker.platform(
            "report",
            f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {metrics['billedDurationMs']} ms\t"
            f"Memory Size: {self.config.memory_mb} MB{init}{status}",
            record,
        )

    def _release(self, worker: Worker) -> None:
        worker.last_used = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        self._retire(worker)

    def close(self) -> None:
        """Stop every worker, idle or busy: a busy one's invocation ends as a Runtime.ExitError."""
        _stop_all(self.closing())

    def closing(self) -> list[Worker]:
        """Take no new invocations and ask every worker to exit; returns them, for `_stop_all`."""
        with self._lock:
            self._closed = True
            workers, self._idle = list(self._all), collections.deque()
        for worker in workers:
            worker.ask_to_exit()
        return workers

    def retire(self) -> None:
        """Take no new invocations; stop idle workers now and busy ones when their invocation ends (as Lambda
        lets running invocations of a replaced version finish)."""
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), collections.deque()
        for worker in idle:
            self._retire(worker)

    def live_workers(self) -> int:
        """Worker processes of this function, idle or busy."""
        with self._lock:
            return len(self._all)

    def oldest_idle(self) -> float | None:
        """When the least recently used idle worker last finished, if there is an idle worker."""
        with self._lock:
            return self._idle[0].last_used if self._idle else None

    def evict_idle(self) -> bool:
        """Stop the least recently used idle worker (its next invocation is a cold start); False if none."""
        with self._lock:
            if not self._idle:
                return False
            worker = self._idle.popleft()
        self._retire(worker)
        return True

    def worker_pids(self) -> list[int]:
        """Process ids of this function's live workers."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.poll() is None]


def _stop_all(workers: list[Worker], grace_s: float = 0.5) -> None:
    """Stop workers already asked to exit: those that have not within `grace_s` (all told) are killed."""
    deadline = time.monotonic() + grace_s
    for worker in workers:
        worker.stop(grace_s=max(0.01, deadline - time.monotonic()))


InvokeListener = Callable[[FunctionConfig, InvokeResult, str], None]
#: Live worker processes kept at most, as a multiple of the worker budget: idle workers past it are stopped,
#: least recently used first, so a stack of many functions does not keep a process per function per burst.
#: Eight, so that the 15 functions of a stack like ours keep one warm worker each (at four, a function that
#: runs now and then, an SQS consumer say, was stopped between its calls and started cold each time).
IDLE_FACTOR = 8
#: Whether the invocation being made on this thread comes from a handler waiting for it (see `invoked_by`).
_nested: contextvars.ContextVar[bool] = contextvars.ContextVar("nested_invocation", default=False)


@contextlib.contextmanager
def invoked_by(request_headers: Any) -> Iterator[None]:
    """Mark invocations made in this block as nested when the Invoke request came from a Lambda handler.

    botocore puts `exec-env/$AWS_EXECUTION_ENV` in its User-Agent, and every worker has AWS_EXECUTION_ENV
    `AWS_Lambda_…`: such a caller holds a worker slot while it waits, so its callee must not wait for one.
    """
    user_agent = str((request_headers or {}).get("User-Agent", ""))
    token = _nested.set("exec-env/AWS_Lambda_" in user_agent)
    try:
        yield
    finally:
        _nested.reset(token)


class LambdaRuntime:
    """Every deployed function's pool, found by name or ARN."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        log_dir: Path,
        log_sink: LogSink | None = None,
        *,
        workers: int | None = None,
        fork_server: bool | None = None,
    ) -> None:
        """`log_sink` receives every line of every function's log; by default CloudWatch Logs (moto's).

        `workers` is the stack's worker budget: invocations running at once across all functions (default
        CPU count + 1; see `budget`); live worker processes, idle ones included, are kept to `IDLE_FACTOR`
        times that. `fork_server` (default: on where the platform allows, unless EMBEDDED_AWS_FORK_SERVER=0)
        starts workers as forks of a zygote that has imported the AWS SDK already.
        """
        self.log_sink: LogSink = log_sink or lambda_logs.CloudWatchLogs()
        self.endpoint_url = endpoint_url
        self.region = region
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_root = log_dir.parent / "lambda-runtime"
        self._runtime_dirs: dict[tuple[int, int], tuple[Path, list[str]]] = {}
        self._pools: dict[str, FunctionPool] = {}
        self._retired: list[FunctionPool] = []  # replaced pools whose busy workers may still run
        self._preparing: list[threading.Thread] = []  # fork servers starting ahead of first invocations
        self._lock = threading.Lock()
        self.listeners: list[InvokeListener] = []
        #: Faults to inject into invocations (crashes, throttles); None: none.
        self.faults: Faults | None = None
        self.budget = WorkerBudget(workers)
        if fork_server is None:
            fork_server = os.environ.get("EMBEDDED_AWS_FORK_SERVER", "1") != "0"
        self.zygotes = (
            forkserver.Zygotes(BOOTSTRAP, log_dir / "fork-servers.log")
            if fork_server and forkserver.supported()
            else None
        )

    def register(self, config: FunctionConfig) -> None:
        """Make a function invokable; replaces an earlier one of the same name, whose running invocations
        finish on their old workers."""
        pool = FunctionPool(
            config,
            self.endpoint_url,
            self.region,
            self.log_dir,
            self._runtime_dir,
            self.log_sink,
            budget=self.budget,
            zygotes=self.zygotes,
            make_room=self._make_room,
        )
        with self._lock:
            old = self._pools.get(config.name)
            self._pools[config.name] = pool
        if self.zygotes is not None:
            preparing = threading.Thread(target=pool.prepare, name=f"zygote-for-{config.name}", daemon=True)
            preparing.start()
            with self._lock:
                self._preparing = [t for t in self._preparing if t.is_alive()] + [preparing]
        if old is not None:
            old.retire()
            with self._lock:
                self._retired = [p for p in self._retired if p.worker_pids()] + [old]

    @property
    def max_live_workers(self) -> int:
        """Worker processes kept at most, idle ones included (busy ones are bounded by the budget)."""
        return IDLE_FACTOR * self.budget.limit

    def _make_room(self) -> None:
        """Before a worker starts: stop least recently used idle workers, of any function, past the cap."""
        with self._lock:
            pools = [*self._pools.values(), *self._retired]
        while sum(p.live_workers() for p in pools) >= self.max_live_workers:
            idle = [(p.oldest_idle(), i) for i, p in enumerate(pools)]
            candidates = [(when, i) for when, i in idle if when is not None]
            if not candidates or not pools[min(candidates)[1]].evict_idle():
                return  # every worker is busy: the budget bounds those

    def _runtime_dir(self, version: tuple[int, int]) -> tuple[Path, list[str]]:
        """What Lambda's runtime provides for this Python (a directory, built once), and what is missing."""
        with self._lock:
            if version not in self._runtime_dirs:
                self._runtime_dirs[version] = interpreters.runtime_packages(self.runtime_root, version)
            return self._runtime_dirs[version]

    def unregister(self, name: str) -> None:
        with self._lock:
            pool = self._pools.pop(name, None)
        if pool is not None:
            pool.close()

    def pool(self, name_or_arn: str) -> FunctionPool:
        name = function_name(name_or_arn)
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            raise EmbeddedAwsError(
                f"Function {name} has no local code: deploy it from a template (CodeUri) with `pipeline up`."
            )
        return pool

    def has(self, name_or_arn: str) -> bool:
        name = function_name(name_or_arn)
        with self._lock:
            return name in self._pools

    def wait_for_capacity(self, name_or_arn: str, timeout_s: float) -> bool:
        """Wait (holding nothing) until an invocation of the function would start at once; False when the
        deadline passed first or the function is gone."""
        name = function_name(name_or_arn)
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            return False
        return self.budget.wait_until_free(pool, pool.cap, timeout_s)

    def invoke(self, name_or_arn: str, event: Any, source: str = "invoke") -> InvokeResult:
        """Invoke a function synchronously, as Lambda's RequestResponse invocation type does."""
        pool = self.pool(name_or_arn)
        faults, crash_after = self.faults, None
        if faults is not None:
            faults.check_throttle(pool.config.name)
            crash_after = faults.crash_after(pool.config.name)
        result = pool.invoke(event, nested=_nested.get(), crash_after_s=crash_after)
        if faults is not None and crash_after is not None and result.error_type == "Runtime.ExitError":
            faults.record("crash", pool.config.name, f"worker killed {crash_after * 1000:.0f} ms in")
        _last.result = result
        for listener in self.listeners:
            listener(pool.config, result, source)
        return result

    def stats(self) -> dict[str, tuple[FunctionConfig, FunctionStats, Path]]:
        with self._lock:
            return {name: (p.config, p.stats, p.log_path) for name, p in self._pools.items()}

    def shutdown(self) -> None:
        """Stop every worker of every function, including replaced versions still finishing a call."""
        with self._lock:
            pools, self._pools = [*self._pools.values(), *self._retired], {}
            self._retired = []
        # Every worker is asked first and given the same half second, rather than half a second each.
        _stop_all([worker for pool in pools for worker in pool.closing()])
        if self.zygotes is not None:
            self.zygotes.stop()
        # A fork server still starting stops itself once started (the zygotes are closed): wait for that, so
        # that no process (nor its writes to the runtime directory) outlives the shutdown.
        with self._lock:
            preparing, self._preparing = self._preparing, []
        for thread in preparing:
            thread.join(timeout=30)

    def process_ids(self) -> list[int]:
        """Every process the runtime runs now: workers of every function and the fork servers."""
        with self._lock:
            pools = [*self._pools.values(), *self._retired]
        pids = [pid for pool in pools for pid in pool.worker_pids()]
        return pids + (self.zygotes.pids() if self.zygotes is not None else [])
