"""The code a local Lambda worker process runs, like the runtime's bootstrap in an execution environment.

It is started as `python <this file> IN_FD OUT_FD` with the function's CodeUri as its working
directory, so it imports nothing from this project: the function sees only its own code and packages.
It imports the handler once (the init phase), reports `ready`, then serves one invocation at a time:
a JSON line in, a JSON line out. The handler's stdout and stderr go to the function's log file.
"""

import importlib
import json
import os
import sys
import time
import traceback
from typing import IO, Any


class LambdaContext:
    """The context object Lambda passes to a handler."""

    def __init__(self, request: dict[str, Any], deadline_ms: int) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = request["invoked_function_arn"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:]),
    }


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def main() -> None:
    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    requests = os.fdopen(in_fd, "r", encoding="utf-8")
    out = os.fdopen(out_fd, "w", encoding="utf-8")
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path[0] = task_root
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, function_name)
    except Exception as exc:  # noqa: BLE001 - reported to the parent as the init error, as Lambda does
        error = _error(exc)
        if isinstance(exc, SyntaxError):
            error["errorType"] = "Runtime.UserCodeSyntaxError"
        elif isinstance(exc, ImportError):
            error["errorType"] = "Runtime.ImportModuleError"
        elif isinstance(exc, AttributeError) and "module" in locals():
            error["errorType"] = "Runtime.HandlerNotFound"
        _send(out, {"type": "init_error", "error": error})
        return
    _send(out, {"type": "ready", "init_ms": (time.perf_counter() - started) * 1000})
    for line in requests:
        request = json.loads(line)
        context = LambdaContext(request, request["deadline_ms"])
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace_id", "")
        sys.stdout.flush()
        try:
            result = handler(request["event"], context)
        except Exception as exc:  # noqa: BLE001 - a handler error is the invocation's result
            sys.stdout.flush()
            traceback.print_exc()
            _send(out, {"type": "error", "error": _error(exc)})
            continue
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            error = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
            }
            _send(out, {"type": "error", "error": error})
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        _send(out, {"type": "result", "payload": payload})


if __name__ == "__main__":
    main()
