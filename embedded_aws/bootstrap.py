# ruff: noqa: UP017 - runs on Python 3.9+, which has no datetime.UTC
"""The code a local Lambda worker process runs, like the runtime's bootstrap in an execution environment.

It is started as `python <this file> IN_FD OUT_FD` with the function's CodeUri as its working directory,
possibly on another Python than the embedded AWS's own (the function's `Runtime`), so it imports nothing
from this project and must run on Python 3.9+. The function sees its own code first on the path, then
`LAMBDA_RUNTIME_DIR` (boto3 and its dependencies, as Lambda's runtime provides them).

It imports the handler once (the init phase), reports `ready`, then serves one invocation at a time: a JSON
line in, a JSON line out. The handler's stdout and stderr go to the function's log, and so do the root
logger's records, formatted as Lambda's Python runtime formats them (`AWS_LAMBDA_LOG_FORMAT` Text or JSON,
`AWS_LAMBDA_LOG_LEVEL`). Errors have the shape and `errorType` Lambda reports.
"""

from __future__ import annotations

import decimal
import importlib
import json
import logging
import math
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from typing import IO, Any

_JSON_LOGS = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: LogRecord attributes that are not extra fields of a JSON log line.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "aws_request_id",
    "tenant_id",
    "taskName",
}
_request_id = ""


class FaultError(Exception):
    """A runtime fault with Lambda's `Runtime.*` error type."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class CognitoIdentity:
    """`context.identity`: set for Amazon Cognito callers, empty otherwise."""

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The context object Lambda passes to a handler (the attributes Lambda's Python runtime sets)."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.aws_request_id: str = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string on Lambda too: the runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn: str = request["invoked_function_arn"]
        self.tenant_id: str | None = None
        self.client_context: Any = None
        self.identity = CognitoIdentity()
        self._deadline_ms = int(request["deadline_ms"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context=None,identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# --- logging -------------------------------------------------------------------------------------------
def _level(record: logging.LogRecord) -> int:
    return min(50, max(0, record.levelno)) // 10 * 10


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _TextFormatter(logging.Formatter):
    """`[INFO]\\t2024-01-01T00:00:00.000Z\\t<request id>\\t<message>`."""

    converter = time.gmtime  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", _TIME_FORMAT
        )


class _JsonFormatter(logging.Formatter):
    """One JSON object per record, with the keys Lambda's Python runtime writes."""

    def format(self, record: logging.LogRecord) -> str:
        level = _level(record)
        exc_info = record.exc_info
        created = datetime.fromtimestamp(record.created, tz=timezone.utc)
        line: dict[str, Any] = {
            "timestamp": created.strftime(_TIME_FORMAT + ".%f")[:-3] + "Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
        }
        if exc_info and exc_info[0] is not None:
            line.update(
                stackTrace=traceback.format_tb(exc_info[2]),
                errorType=exc_info[0].__name__,
                errorMessage=str(exc_info[1]),
            )
        line["requestId"] = getattr(record, "aws_request_id", None)
        if exc_info and exc_info[0] is not None:
            line["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and key not in line:
                line[key] = value
        return json.dumps({k: v for k, v in line.items() if v is not None}, ensure_ascii=False, default=str)


class _StdoutHandler(logging.Handler):
    """Writes to whatever `sys.stdout` is now (the function's log)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging's own contract: report through handleError, never raise
            self.handleError(record)


def setup_logging() -> None:
    """Install the root handler Lambda's Python runtime installs, honouring the advanced logging controls."""
    handler = _StdoutHandler()
    handler.setFormatter(_JsonFormatter() if _JSON_LOGS else _TextFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    level = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level)
    if isinstance(logging.getLevelName(level), int):
        root.setLevel(level)


def log_error(error: dict[str, Any]) -> None:
    """Write an error as Lambda's runtime does: `[ERROR] Type: message` and the trace, or one JSON line."""
    if _JSON_LOGS:
        stamp = time.strftime(_TIME_FORMAT, time.gmtime())
        line = {"timestamp": stamp, "level": "ERROR", **error}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    else:
        head = "[ERROR]"
        if error.get("errorType"):
            head += f" {error['errorType']}:"
        head += f" {error.get('errorMessage', '')}"
        lines = [head, "Traceback (most recent call last):", *error.get("stackTrace", [])]
        sys.stdout.write("\n".join(part.rstrip("\n") for part in lines) + "\n")
    sys.stdout.flush()


# --- handler ---------------------------------------------------------------------------------------------
def load_handler(handler: str) -> Any:
    """Import the handler's module and find the function, with the faults Lambda's runtime reports."""
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}") from exc
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict", f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", trace
        ) from exc
    try:
        return getattr(module, function_name)
    except AttributeError as exc:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from exc


def make_error(message: str, error_type: str, trace: list[str], request_id: str = "") -> dict[str, Any]:
    """The error document Lambda returns as the Invoke payload."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}


def _user_trace(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    for index, frame in enumerate(frames):
        if not frame.filename.endswith("bootstrap.py"):
            return traceback.format_list(frames[index:])
    return []


def _plain(value: Any) -> Any:
    """A copy with Decimals as JSON numbers: Lambda's runtime encodes them (DynamoDB items hold them)."""
    if isinstance(value, decimal.Decimal):
        if value.is_nan():
            return math.nan
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def marshal(result: Any) -> str:
    """The response payload, as Lambda's runtime encodes it; raises `FaultError` (MarshalError)."""
    if isinstance(result, bytes):
        return result.decode("utf-8", "surrogateescape")
    ensure_ascii = os.environ.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
    try:
        try:
            return json.dumps(result, ensure_ascii=ensure_ascii)
        except TypeError:
            return json.dumps(_plain(result), ensure_ascii=ensure_ascii)
    except (TypeError, ValueError) as exc:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def _serve(requests: IO[str], out: IO[str], handler: Any) -> None:
    global _request_id  # noqa: PLW0603 - the root logger's filter reads the current request's id
    for line in requests:
        request = json.loads(line)
        _request_id = request["request_id"]
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        try:
            payload = marshal(handler(request["event"], LambdaContext(request)))
        except FaultError as fault:
            error = make_error(fault.message, fault.error_type, fault.trace, _request_id)
        except Exception as exc:  # noqa: BLE001 - a handler error is the invocation's result
            error = make_error(str(exc), type(exc).__name__, _user_trace(exc), _request_id)
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            _send(out, {"type": "result", "payload": payload})
            continue
        log_error(error)
        sys.stderr.flush()
        _send(out, {"type": "error", "error": error})


def main() -> None:
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    requests = os.fdopen(in_fd, "r", encoding="utf-8")
    out = os.fdopen(out_fd, "w", encoding="utf-8")
    # The function's code first, then its layers (Lambda's /opt/python), then the runtime's packages; never
    # this file's directory.
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR")
    layers = [p for p in os.environ.get("EMBEDDED_AWS_LAYER_PATHS", "").split(os.pathsep) if p]
    sys.path[0:1] = [os.environ["LAMBDA_TASK_ROOT"], *layers, *([runtime_dir] if runtime_dir else [])]
    setup_logging()
    started = time.perf_counter()
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except FaultError as fault:
        error = make_error(fault.message, fault.error_type, fault.trace)
    except Exception as exc:  # noqa: BLE001 - an error at import is the init error, as Lambda reports it
        error = make_error(str(exc), type(exc).__name__, _user_trace(exc))
    else:
        _send(out, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000})
        _serve(requests, out, handler)
        # The runtime closed our input: the environment is shutting down. Lambda ends a runtime with a signal,
        # running no exit handlers; so do we, once the logs are out (a full interpreter teardown is ~0.1 s of
        # CPU per worker, which made stopping a stack of warm workers take seconds).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    log_error(error)
    _send(out, {"type": "init_error", "error": error})
    sys.exit(1)


if __name__ == "__main__":
    main()
