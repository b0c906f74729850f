"""A fork server (zygote): a Python that has imported what handlers share, forking one worker per request.

It is started as `python <this file> CONTROL_FD BOOTSTRAP` by the local Lambda runtime, one per interpreter
and import-time environment, possibly on another Python than the embedded AWS's own, so it imports nothing
from this project and runs on Python 3.9+ with the standard library only.

At start it imports, best effort, what the bootstrap and the AWS SDK need (boto3, botocore, pydantic, the
light parts of Powertools: whatever is importable; an import that fails is skipped) with an environment that
holds no function's variables, only what those modules read at import time (the same for every function it
serves: the runtime keys zygotes by it). No template code is ever imported here. It then reports the
top-level modules it holds (a function whose code bundles its own copy of one is not forked from here: on
Lambda the code directory wins) and waits for requests on CONTROL_FD, a unix SOCK_SEQPACKET socket:

- `{"id": n, "env": {...}, "cwd": "..."}` with three descriptors (the worker's request pipe, reply pipe and
  log pipe): it forks a worker and answers `{"id": n, "pid": p}` with a pidfd of the worker (so the runtime
  signals exactly that process), or `{"id": n, "error": ..., "errno": ...}`;
- in the worker, after the fork: a new session, stdout and stderr on the log pipe, `os.environ` replaced by
  the function's, the working directory its code, `sys.path` as a fresh `python bootstrap.py` has it, then the
  bootstrap runs as `__main__` exactly as when started as a process of its own;
- it reaps its children (SIGCHLD wakes its select loop) and reports `{"exit": pid, "code": returncode}` (a
  negative code for a signal, as `subprocess` reports it);
- it exits when the runtime closes the socket.

It stays single-threaded, so a fork copies no lock held by another thread.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

#: What every worker imports anyway, in the order a handler would import it: the bootstrap's standard
#: library, then the AWS SDK (including what creating a client imports lazily), then pydantic and the parts
#: of Powertools that read nothing but their own package at import. Missing ones are skipped.
PRELOAD = (
    "decimal",
    "importlib",
    "json",
    "logging",
    "math",
    "traceback",
    "datetime",
    "runpy",
    "typing",
    "dataclasses",
    "uuid",
    "urllib.parse",
    "http.client",
    "email.utils",
    "ssl",
    "botocore",
    "botocore.session",
    "botocore.client",
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.serialize",
    "botocore.signers",
    "botocore.auth",
    "botocore.credentials",
    "botocore.httpsession",
    "botocore.regions",
    "botocore.endpoint_provider",
    "botocore.retries.standard",
    "botocore.retries.adaptive",
    "botocore.configprovider",
    "botocore.loaders",
    "botocore.paginate",
    "botocore.waiter",
    "boto3",
    "boto3.session",
    "boto3.resources.factory",
    "boto3.dynamodb.conditions",
    "boto3.dynamodb.types",
    "boto3.dynamodb.transform",
    "boto3.s3.inject",
    "boto3.s3.transfer",
    "s3transfer.manager",
    "s3transfer.subscribers",
    "encodings.idna",
    "pydantic",
    "pydantic.main",
    "pydantic.fields",
    "pydantic.functional_validators",
    "pydantic.type_adapter",
    "pydantic_core",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.typing",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.idempotency",
    # Pillow, the image library serverless image pipelines use, where the interpreter has it (its import is
    # ~0.1 s of an image handler's cold start); a function that bundles its own gets a plain process.
    "PIL.Image",
    "PIL.ImageFile",
    "PIL.ImageOps",
    "PIL.JpegImagePlugin",
    "PIL.PngImagePlugin",
    "PIL.GifImagePlugin",
    "PIL.WebPImagePlugin",
)
_MAX_MESSAGE = 1 << 20


def preload(names: tuple[str, ...]) -> list[str]:
    """Import each module, best effort; returns the ones that did not import."""
    skipped: list[str] = []
    for name in names:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a module that does not import is simply not preloaded
            skipped.append(name)
    return skipped


#: Services whose models the zygote loads ahead (serverless handlers' usual clients).
WARM_SERVICES = ("s3", "dynamodb", "sqs", "sns", "stepfunctions", "lambda", "events")


def warm_boto3() -> None:
    """Make boto3's default session and load, into its data loader, what every first client reads: the
    list of services, the endpoints and partitions, and the models of `WARM_SERVICES`. A worker's first
    `boto3.client(...)` then costs a hundredth of a second instead of a quarter (mostly botocore listing
    its data directories). Nothing environment-dependent is read: no region, profile or credentials are
    resolved and no client is made, so each worker resolves its own, as a fresh process would."""
    try:
        import boto3
    except Exception:  # noqa: BLE001 - no boto3 on this interpreter's path: nothing to warm
        return
    try:
        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION._session  # type: ignore[union-attr]
        loader = session.get_component("data_loader")
        session.get_component("endpoint_resolver")
        for service in WARM_SERVICES:
            for type_name in ("service-2", "endpoint-rule-set-1"):
                loader.load_service_model(service, type_name)
    except Exception:  # noqa: BLE001 - best effort: a worker loads whatever is missing itself
        boto3.DEFAULT_SESSION = None


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


class Zygote:
    def __init__(self, sock: socket.socket, bootstrap: str, worker_path: list[str]) -> None:
        self.sock = sock
        self.bootstrap = bootstrap
        self.worker_path = worker_path
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.children: set[int] = set()

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the wakeup fd is what matters: select returns
        signal.set_wakeup_fd(self.wake_w)
        while True:
            ready, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [])
            if self.wake_r in ready:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            self.reap()
            if self.sock.fileno() in ready:
                try:
                    data, fds, _, _ = socket.recv_fds(self.sock, _MAX_MESSAGE, 8)
                except ConnectionResetError:
                    data, fds = b"", []
                if not data:
                    return  # the runtime is gone: its workers end when their request pipes close
                self.handle(json.loads(data), fds)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            _send(self.sock, {"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    def handle(self, request: dict[str, Any], fds: list[int]) -> None:
        try:
            if len(fds) != 3:
                raise OSError(0, f"a spawn request needs 3 descriptors, got {len(fds)}")
            if not os.path.isdir(request["cwd"]):  # as subprocess reports a missing working directory
                raise FileNotFoundError(2, "No such file or directory", request["cwd"])
            if "threading" in sys.modules and sys.modules["threading"].active_count() > 1:
                raise OSError(0, "the fork server is not single-threaded: it does not fork")
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            _send(self.sock, {"id": request.get("id"), "error": str(exc), "errno": exc.errno or 0})
            return
        if pid == 0:
            self.become_worker(request, fds)  # never returns: the worker ends by raising SystemExit
        self.children.add(pid)
        for fd in fds:
            os.close(fd)
        # A pidfd names exactly this process: signals sent through it never reach a later one with its pid.
        pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else -1
        try:
            _send(self.sock, {"id": request["id"], "pid": pid}, [pidfd] if pidfd >= 0 else None)
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def become_worker(self, request: dict[str, Any], fds: list[int]) -> None:
        """In the child: become what `python -u bootstrap.py IN OUT` in the function's code dir would be."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.sock.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            in_fd, out_fd, log_fd = fds
            os.setsid()
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            os.close(log_fd)
            for fd in (in_fd, out_fd):
                os.set_inheritable(fd, True)  # as subprocess's pass_fds leaves them
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            _reset_process_state()
            sys.path[:] = self.worker_path
            sys.argv[:] = [self.bootstrap, str(in_fd), str(out_fd)]
        except BaseException:  # noqa: BLE001 - nothing of the zygote's loop may run in the child
            traceback.print_exc()
            os._exit(code)
        import runpy

        try:
            runpy.run_path(self.bootstrap, run_name="__main__")
        except SystemExit:
            raise
        except BaseException:  # noqa: BLE001 - as the interpreter reports an uncaught exception
            traceback.print_exc()
            raise SystemExit(1) from None
        raise SystemExit(0)


def _reset_process_state() -> None:
    """What a fresh interpreter derives from its environment and the zygote already derived from its own."""
    import importlib
    import time

    if hasattr(time, "tzset"):
        time.tzset()  # TZ is the function's
    tempfile: Any = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # found again from TMPDIR on first use
    importlib.invalidate_caches()


def main() -> None:
    control_fd, bootstrap = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(fileno=control_fd)
    # A worker's path is a fresh `python bootstrap.py`'s: the bootstrap's directory first (which the
    # bootstrap replaces by the code and the runtime's packages), then the interpreter's own entries.
    worker_path = [os.path.dirname(os.path.abspath(bootstrap)), *sys.path[1:]]
    # Preloads come from where a worker would find them: the runtime's packages, then the interpreter's.
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR")
    sys.path[0:1] = [runtime_dir] if runtime_dir else []
    skipped = preload(PRELOAD)
    warm_boto3()
    modules = sorted({name.partition(".")[0] for name in sys.modules})
    _send(sock, {"ready": True, "pid": os.getpid(), "modules": modules, "skipped": skipped})
    Zygote(sock, bootstrap, worker_path).serve()
    # Nothing to tear down: the preloaded modules' teardown alone took a third of a second.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
