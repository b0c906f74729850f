"""Lambda API behaviour moto lacks: `LoggingConfig`, Invoke's payload limits and its response status.

- `LoggingConfig` (LogFormat, ApplicationLogLevel, SystemLogLevel, LogGroup) is kept from CreateFunction and
  CloudFormation and returned by GetFunctionConfiguration as Lambda returns it (moto drops it), so the local
  runtime gives the function the log format and levels it asked for.
- Invoke refuses a request over Lambda's documented limits (6 MB synchronous, 1 MB asynchronous) with
  `RequestEntityTooLargeException` (HTTP 413) and Lambda's messages, a body that is not JSON with
  `InvalidRequestContentException`, and a throttled function with `TooManyRequestsException` (429).
  moto's own response check (`sys.getsizeof(payload) > 6000000`) is replaced: the local runtime applies
  Lambda's 6291556-byte response limit as `Function.ResponseSizeTooLarge`. Invoke answers with the
  invocation's request id (`x-amzn-RequestId`), as Lambda does.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda.responses import LambdaResponse
from moto.utilities.aws_headers import amz_crc32

#: Invoke's request payload limits (bytes), as the Lambda API reference documents them.
MAX_SYNC_REQUEST_BYTES = 6_291_456
MAX_ASYNC_REQUEST_BYTES = 1_048_576

_originals: dict[str, Any] = {}
#: CloudFormation properties moto's Lambda model leaves out of the spec it creates a function from; the
#: function is created (and made runnable) inside that call, so they must reach `__init__`, not follow it.
_cfn_properties = threading.local()


class RequestEntityTooLargeError(LambdaClientError):  # type: ignore[misc]
    code = 413

    def __init__(self, message: str) -> None:
        super().__init__("RequestEntityTooLargeException", message)


class InvalidRequestContentError(LambdaClientError):  # type: ignore[misc]
    code = 400

    def __init__(self, message: str) -> None:
        super().__init__("InvalidRequestContentException", message)


class TooManyRequestsError(LambdaClientError):  # type: ignore[misc]
    code = 429

    def __init__(self, message: str, reason: str) -> None:
        super().__init__("TooManyRequestsException", message)
        self.description = json.dumps(
            {"__type": self.error_type, "message": message, "Reason": reason, "Type": "User"}
        )


class ServiceError(LambdaClientError):  # type: ignore[misc]
    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServiceException", message)


def check_request_size(body: str | bytes, invocation_type: str) -> None:
    """Refuse an Invoke payload over Lambda's limit for its invocation type, as Lambda words it."""
    size = len(body.encode("utf-8") if isinstance(body, str) else body)
    if invocation_type == "Event" and size > MAX_ASYNC_REQUEST_BYTES:
        raise RequestEntityTooLargeError(
            f"{size} byte payload is too large for the Event invocation type "
            f"(limit {MAX_ASYNC_REQUEST_BYTES} bytes)"
        )
    if size > MAX_SYNC_REQUEST_BYTES:
        raise RequestEntityTooLargeError(
            f"Request must be smaller than {MAX_SYNC_REQUEST_BYTES} bytes for the InvokeFunction operation"
        )


def parse_event(body: str | bytes) -> Any:
    """The event an Invoke body carries; an empty body is `{}`, a body that is not JSON is refused."""
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidRequestContentError(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc


def logging_config(spec: dict[str, Any] | None, function_name: str) -> dict[str, str]:
    """`LoggingConfig` as GetFunctionConfiguration returns it, with Lambda's defaults filled in."""
    spec = dict(spec or {})
    config = {"LogFormat": str(spec.get("LogFormat") or "Text")}
    if config["LogFormat"] == "JSON":
        config["ApplicationLogLevel"] = str(spec.get("ApplicationLogLevel") or "INFO")
        config["SystemLogLevel"] = str(spec.get("SystemLogLevel") or "INFO")
    config["LogGroup"] = str(spec.get("LogGroup") or f"/aws/lambda/{function_name}")
    return config


def _init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    _originals["init"](self, account_id, spec, *args, **kwargs)
    # Environment values are strings on Lambda: CloudFormation passes a Number parameter or a YAML number or
    # boolean as its text (moto kept the int, which GetFunctionConfiguration then returned).
    self.environment_vars = {str(k): _as_text(v) for k, v in (self.environment_vars or {}).items()}
    from_cfn = getattr(_cfn_properties, "value", None) or {}
    self.logging_config = logging_config(
        spec.get("LoggingConfig") or from_cfn.get("LoggingConfig"), self.function_name
    )


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _from_cloudformation(
    cls: type[LambdaFunction],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> LambdaFunction:
    _cfn_properties.value = cloudformation_json.get("Properties", {})
    try:
        function: LambdaFunction = _originals["from_cfn"].__func__(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
    finally:
        _cfn_properties.value = None
    return function


def _get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = _originals["get_configuration"](self, on_create)
    config["LoggingConfig"] = dict(
        getattr(self, "logging_config", None) or logging_config(None, self.function_name)
    )
    return config


def _update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        merged = {**getattr(self, "logging_config", {}), **config_updates["LoggingConfig"]}
        if merged.get("LogFormat") != "JSON":
            merged = {k: v for k, v in merged.items() if k in ("LogFormat", "LogGroup")}
        self.logging_config = logging_config(merged, self.function_name)
    result: dict[str, Any] = _originals["update_configuration"](self, config_updates)
    return result


def _invoke_response(self: LambdaResponse) -> tuple[int, dict[str, str], str | bytes]:
    """moto's Invoke response without its approximate response-size check (the runtime applies Lambda's)."""
    response_headers: dict[str, str] = {}
    function_name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = self._get_param("qualifier")
    payload = self.backend.invoke(function_name, qualifier, self.body, self.headers, response_headers)
    if payload is None:
        return 404, response_headers, "{}"
    response_headers["content-type"] = "application/json"
    invocation_type = self.headers.get("X-Amz-Invocation-Type")
    if invocation_type == "Event":
        return 202, {**response_headers, "status": "202"}, payload
    if invocation_type == "DryRun":
        return 204, {**response_headers, "status": "204"}, payload
    if self.headers.get("X-Amz-Log-Type") != "Tail":
        response_headers.pop("x-amz-log-result", None)
    return 200, response_headers, payload


def _enrich_response(headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:
    """moto's response enrichment, keeping an Invoke's request id (Lambda answers with the invocation's)."""
    invocation_id = headers.get("x-amzn-requestid")
    headers, body = _originals["enrich_response"](headers, body)
    if invocation_id:
        headers["x-amzn-requestid"] = invocation_id
    return headers, body


def install() -> None:
    """Patch moto's Lambda models and Invoke response. Idempotent."""
    if _originals:
        return
    _originals["init"] = LambdaFunction.__init__
    _originals["from_cfn"] = LambdaFunction.__dict__["create_from_cloudformation_json"]
    _originals["get_configuration"] = LambdaFunction.get_configuration
    _originals["update_configuration"] = LambdaFunction.update_configuration
    _originals["invoke_response"] = LambdaResponse.invoke
    _originals["enrich_response"] = LambdaResponse._enrich_response
    LambdaFunction.__init__ = _init
    from_cfn: Any = classmethod(_from_cloudformation)  # type: ignore[arg-type]
    LambdaFunction.create_from_cloudformation_json = from_cfn
    LambdaFunction.get_configuration = _get_configuration
    LambdaFunction.update_configuration = _update_configuration
    LambdaResponse.invoke = amz_crc32(_invoke_response)
    enrich: Any = staticmethod(_enrich_response)
    LambdaResponse._enrich_response = enrich
