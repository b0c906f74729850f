"""The runtime's side of the fork servers (`zygote.py`): start them, ask them for workers, follow the workers.

A worker forked by a zygote is its child, not the runtime's, so the runtime cannot wait for it; the zygote
reaps it and reports its exit status. `ForkedProcess` turns that into what `subprocess.Popen` offers the
runtime (`pid`, `poll()`, `wait()`, `kill()`, `returncode`), so timeouts, crash detection and the wording
of a worker's end behave as for a worker started as a process of its own.

Zygotes are keyed by the interpreter command and the environment their preloaded modules read at import
time (`zygote_environment`): functions that share both share a zygote; one that sets, say, its own
`PYTHONPATH` or `POWERTOOLS_DEBUG` gets a zygote whose preloads saw that value, as its own process would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ZYGOTE = Path(__file__).with_name("zygote.py")
#: Variables some preloaded module (or the interpreter itself) reads at import time, besides `PYTHON*`.
IMPORT_TIME_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "SYSTEMROOT",
        "TZ",
        "LAMBDA_RUNTIME_DIR",
        "AWS_EXECUTION_ENV",  # Powertools' user agent
        "AWS_LAMBDA_INITIALIZATION_TYPE",  # Powertools' cold-start metric
        "POWERTOOLS_DEBUG",  # Powertools' package logger
        "BOTO_DISABLE_CRT",  # botocore.compat, when awscrt is installed
    }
)
#: How long a zygote may take to import its preloads (a foreign Python compiles botocore once).
START_TIMEOUT_S = 120.0
#: How long a fork may take to be answered before the runtime gives up on that zygote.
SPAWN_TIMEOUT_S = 30.0
_MAX_MESSAGE = 1 << 20


_Key = tuple[tuple[str, ...], frozenset[tuple[str, str]]]


class ZygoteError(Exception):
    """The zygote could not start, or is gone."""


def zygote_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The part of a worker's environment its zygote imports with (and is keyed by)."""
    return {k: v for k, v in env.items() if k in IMPORT_TIME_VARIABLES or k.startswith("PYTHON")}


def top_level_names(directory: Path) -> set[str]:
    """The importable top-level names a code directory provides (packages, modules, extensions)."""
    names: set[str] = set()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return names
    for entry in entries:
        name = entry.name
        if entry.is_dir():
            if name.isidentifier():
                names.add(name)
        elif name.endswith((".py", ".pyc", ".so", ".pyd")):
            names.add(name.partition(".")[0])
    return names


class ForkedProcess:
    """A worker forked by a zygote, as the runtime handles a `subprocess.Popen`."""

    def __init__(self, pid: int, pidfd: int, zygote: Zygote) -> None:
        self.pid = pid
        self._pidfd = pidfd
        self._zygote = zygote
        self.returncode: int | None = None
        self._ended = threading.Condition()
        #: Held while the pidfd is used or closed: a closed descriptor's number may name another process next.
        self._pidfd_lock = threading.Lock()

    def _exited(self, code: int) -> None:
        with self._ended:
            if self.returncode is None:
                self.returncode = code
            self._ended.notify_all()
        with self._pidfd_lock:
            if self._pidfd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._pidfd)
                self._pidfd = -1

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self._ended:
            if not self._ended.wait_for(lambda: self.returncode is not None, timeout):
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            assert self.returncode is not None
            return self.returncode

    def alive(self) -> bool:
        """Whether the process has not ended (its pidfd is not readable), even before the zygote reports."""
        with self._pidfd_lock:
            if self._pidfd < 0:
                return self.returncode is None
            poller = select.poll()  # not select(): it refuses descriptors numbered 1024 and above
            poller.register(self._pidfd, select.POLLIN)
            return not poller.poll(0)

    def send_signal(self, signum: int) -> None:
        with self._pidfd_lock, contextlib.suppress(ProcessLookupError):
            if self._pidfd >= 0:
                signal.pidfd_send_signal(self._pidfd, signum)
            elif self.returncode is None:
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def kill_group(self) -> None:
        """SIGKILL the worker's process group (it leads a session of its own), while it can be only it."""
        if self.alive():  # not ended, so its pid (the group's id) is not another process's
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)  # first: the processes its handler started go too
        self.kill()


class Zygote:
    """One fork server process and the thread that reads its answers."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        bootstrap: Path,
        log_path: Path,
        launching: Callable[[subprocess.Popen[bytes], bool], None] | None = None,
    ) -> None:
        """Start the fork server and wait for its greeting. `launching(process, True)` is called once the
        process runs and `launching(process, False)` once it has greeted (or failed), so that an owner
        shutting down meanwhile can kill it rather than wait for its preloads."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, tuple[threading.Event, list[Any]]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._closed = False
        with log_path.open("ab") as log_file:
            try:
                self.process = subprocess.Popen(
                    [*command, str(ZYGOTE), str(theirs.fileno()), str(bootstrap)],
                    env=dict(env),
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    pass_fds=(theirs.fileno(),),
                    start_new_session=True,
                )
            except OSError as exc:
                ours.close()
                raise ZygoteError(f"cannot start a fork server: {exc}") from exc
            finally:
                theirs.close()
        if launching is not None:
            launching(self.process, True)
        try:
            hello = self._hello()
        except BaseException:
            self.stop()
            raise
        finally:
            if launching is not None:
                launching(self.process, False)
        self.pid = self.process.pid
        self.modules: frozenset[str] = frozenset(hello.get("modules", ()))
        self.skipped: list[str] = list(hello.get("skipped", ()))
        self._reader = threading.Thread(target=self._read, name=f"zygote-{self.pid}", daemon=True)
        self._reader.start()

    def _hello(self) -> dict[str, Any]:
        readable, _, _ = select.select([self._sock], [], [], START_TIMEOUT_S)
        data = self._sock.recv(_MAX_MESSAGE) if readable else b""
        if not data:
            raise ZygoteError(
                "the fork server did not start"
                + ("" if readable else f" within {START_TIMEOUT_S:.0f} s")
                + f" (exit code {self.process.poll()})"
            )
        hello: dict[str, Any] = json.loads(data)
        return hello

    @property
    def alive(self) -> bool:
        return not self._closed and self.process.poll() is None

    def spawn(self, env: Mapping[str, str], cwd: Path, fds: Sequence[int]) -> ForkedProcess:
        """Fork a worker with these (request, reply, log) descriptors; raises OSError as Popen would."""
        done = threading.Event()
        answer: list[Any] = []
        with self._lock:
            if self._closed:
                raise ZygoteError("the fork server is gone")
            self._next_id += 1
            request_id = self._next_id
            self._pending[request_id] = (done, answer)
        message = json.dumps({"id": request_id, "env": dict(env), "cwd": str(cwd)}).encode()
        try:
            with self._send_lock:
                socket.send_fds(self._sock, [message], list(fds))
        except OSError as exc:
            with self._lock:
                self._pending.pop(request_id, None)
            raise ZygoteError(f"the fork server is gone: {exc}") from exc
        if not done.wait(SPAWN_TIMEOUT_S):
            with self._lock:
                self._pending.pop(request_id, None)
            raise ZygoteError(f"the fork server did not answer within {SPAWN_TIMEOUT_S:.0f} s")
        if not answer:
            raise ZygoteError("the fork server ended before it answered")
        reply, child = answer
        if "error" in reply:
            if reply.get("errno"):
                raise OSError(reply["errno"], reply["error"], str(cwd))
            raise ZygoteError(reply["error"])
        assert isinstance(child, ForkedProcess)
        return child

    def _read(self) -> None:
        """Dispatch answers and exit reports until the zygote ends; then settle everything still open."""
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self._sock, _MAX_MESSAGE, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                break
            try:
                self._dispatch(json.loads(data), fds)
            except Exception:  # a worker whose end is never reported would be waited for forever
                log.exception("Fork server %d: unreadable message %r", self.pid, data[:200])
        self._settle()

    def _dispatch(self, message: dict[str, Any], fds: list[int]) -> None:
        if "exit" in message:
            with self._lock:
                child = self._children.pop(int(message["exit"]), None)
            if child is not None:
                child._exited(int(message["code"]))
            return
        with self._lock:
            done, answer = self._pending.pop(message.get("id"), (None, None))  # type: ignore[arg-type]
            child = None
            if "pid" in message:
                child = ForkedProcess(int(message["pid"]), fds[0] if fds else -1, self)
                self._children[child.pid] = child
        if done is not None and answer is not None:
            answer.extend([message, child])
            done.set()

    def _settle(self) -> None:
        """The zygote is gone: no one will report its workers' ends, so end them and report them killed."""
        with self._lock:
            self._closed = True
            pending, self._pending = list(self._pending.values()), {}
            children, self._children = list(self._children.values()), {}
        for done, _ in pending:
            done.set()
        for child in children:
            child.kill_group()
            child._exited(-signal.SIGKILL)
        with contextlib.suppress(OSError):
            self._sock.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the socket (the zygote exits), wait for it, and kill it if it does not go."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.join(timeout_s)
        else:
            self._settle()


class Zygotes:
    """The fork servers of one runtime, started on first use and restarted when one has died."""

    def __init__(self, bootstrap: Path, log_path: Path) -> None:
        self._bootstrap = bootstrap
        self._log_path = log_path
        self._lock = threading.Lock()
        self._zygotes: dict[_Key, Zygote] = {}
        self._starting: dict[_Key, threading.Lock] = {}  # one start at a time per key, others go on
        self._broken: set[_Key] = set()
        self._launching: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def _launch(self, process: subprocess.Popen[bytes], started: bool) -> None:
        """Track a fork server between its start and its greeting; one started after `stop` is killed."""
        with self._lock:
            if not started:
                self._launching.discard(process)
                return
            if not self._closed:
                self._launching.add(process)
                return
        _kill_group(process)

    def get(self, command: Sequence[str], env: Mapping[str, str]) -> Zygote | None:
        """The zygote for this interpreter command and worker environment; None when none can run."""
        zygote_env = zygote_environment(env)
        key: _Key = (tuple(command), frozenset(zygote_env.items()))
        with self._lock:
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:
            with self._lock:
                if self._closed or key in self._broken:
                    return None
                zygote = self._zygotes.pop(key, None)
            if zygote is not None and zygote.alive:
                with self._lock:
                    self._zygotes[key] = zygote
                return zygote
            if zygote is not None:
                log.warning("A fork server (pid %d) ended; starting another", zygote.pid)
                zygote.stop(0.5)
            try:
                zygote = Zygote(command, zygote_env, self._bootstrap, self._log_path, self._launch)
            except ZygoteError as exc:
                if self._closed:  # killed by `stop` while it preloaded
                    return None
                log.warning(
                    "No fork server for %s (%s): workers start as processes of their own", command, exc
                )
                with self._lock:
                    self._broken.add(key)
                return None
            log.debug("Fork server %d for %s; not preloaded: %s", zygote.pid, command, zygote.skipped)
            with self._lock:
                if not self._closed:
                    self._zygotes[key] = zygote
                    return zygote
            zygote.stop()  # the runtime shut down while it started
            return None

    def pids(self) -> list[int]:
        with self._lock:
            return [z.pid for z in self._zygotes.values() if z.alive]

    def stop(self) -> None:
        """Stop every fork server; one still preloading is killed (its starter then gives up at once)."""
        with self._lock:
            self._closed = True
            zygotes, self._zygotes = list(self._zygotes.values()), {}
            launching, self._launching = list(self._launching), set()
        for process in launching:
            _kill_group(process)
        for zygote in zygotes:
            zygote.stop()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
        os.killpg(process.pid, signal.SIGKILL)


def supported() -> bool:
    """Whether this platform can run fork servers (fork, descriptor passing, pidfds: Linux)."""
    return all(
        (
            hasattr(os, "fork"),
            hasattr(socket, "send_fds"),
            hasattr(socket, "SOCK_SEQPACKET"),
            hasattr(os, "pidfd_open"),
            hasattr(signal, "pidfd_send_signal"),
        )
    )
