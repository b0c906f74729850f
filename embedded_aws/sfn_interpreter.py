"""Step Functions state semantics as AWS runs them, on moto's ASL interpreter (`moto/stepfunctions/parser`).

moto's interpreter (a port of LocalStack's) runs the states; these patches make what it does match AWS where
it differs, and refuse at CreateStateMachine (so at deploy) what it cannot run:

- Lambda tasks: `lambda:invoke` results carry `ExecutedVersion`, `SdkHttpMetadata` and `SdkResponseMetadata`;
  a function error is `Error` = the exception class name and `Cause` = the Lambda error JSON as Lambda
  writes it (`errorMessage`, `errorType`, `requestId`, `stackTrace`); a payload without `errorType` is
  `Lambda.Unknown`;
  a Lambda service failure is `Lambda.<Code>` (`Lambda.TooManyRequestsException`, `Lambda.ServiceException`)
  instead of a `KeyError` or an HTML page.
- SDK integrations: DynamoDB binary attributes (`B`, `BS`) are base64 in and out, as in DynamoDB's JSON;
  results never hold bytes or datetimes (which broke DescribeExecution with an HTML 500); `aws-sdk:*` takes
  PascalCase parameters and answers PascalCase fields, a JSON `Body` is written as JSON text, and errors are
  `<Service>.<Name>Exception` with the service in PascalCase (`S3.NoSuchKeyException`); SQS errors are
  `SQS.<Name>Exception`.
- Task tokens: `SendTaskFailure` keeps its `cause`; a missed heartbeat is `States.HeartbeatTimeout`;
  `SendTaskHeartbeat` is accepted for any waiting token, also before the task starts its heartbeat clock
  and on a task without `HeartbeatSeconds` (moto answered `InvalidToken`).
- The context object: `$$.Execution.StartTime` and `$$.State.EnteredTime` are ISO 8601 strings with
  milliseconds and `Z`, as AWS writes them (moto gave a datetime, which made `$$` unserialisable).
- Distributed Map: `ItemBatcher` (`MaxItemsPerBatch(Path)`, `MaxInputBytesPerBatch(Path)`, `BatchInput`),
  `ToleratedFailureCount(Path)`/`ToleratedFailurePercentage(Path)` with
  `States.ExceedToleratedFailureThreshold`, and `ExecutionType: EXPRESS`, which moto's grammar does not know.
- JSONata (`QueryLanguage: JSONata`) evaluates with jsonata-python (moto ships the language without an
  evaluator), with Step Functions' `$uuid` and `$hash`.
"""

from __future__ import annotations

import base64
import collections
import copy
import dataclasses
import datetime
import functools
import hashlib
import importlib
import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.response import StreamingBody

from embedded_aws import iam
from embedded_aws.actions import Check, function_arn
from embedded_aws.formats import iso_millis
from embedded_aws.policy import Principal

log = logging.getLogger(__name__)

#: The marker a preprocessed definition carries on Map states whose fields moto's grammar lacks.
_EXTRA_KEY = "Comment"
_EXTRA_PREFIX = "embedded-aws:"

_originals: dict[str, Any] = {}


# --- small helpers --------------------------------------------------------------------------------
def json_safe(value: Any) -> Any:
    """A service result as JSON: bytes as base64 (as AWS's JSON protocols carry blobs), datetimes as ISO 8601,
    streamed bodies as text."""
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime.datetime):
        return iso_millis(value)
    if isinstance(value, StreamingBody):
        return value.read().decode("utf-8", errors="replace")
    return value


def _pascal_service_name(service_id: str) -> str:
    """`DynamoDB` → `DynamoDb`, `SQS` → `Sqs`, `S3` → `S3`, `ACM PCA` → `AcmPca`: the service part of an
    aws-sdk integration's error name (Step Functions documents it as PascalCase)."""
    tokens = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[0-9]+|[a-z]+", service_id)
    return "".join(token[:1].upper() + token[1:].lower() for token in tokens)


def _exception_name(ex: ClientError) -> str:
    name = type(ex).__name__
    if name == "ClientError":
        name = (
            str(ex.response.get("Error", {}).get("Code") or "Unknown").rsplit("#", 1)[-1].rsplit(".", 1)[-1]
        )
    return name if name.endswith("Exception") else f"{name}Exception"


def _client_error_parts(ex: ClientError) -> tuple[str, str, int, str]:
    """(code, message, HTTP status, request id) of a ClientError, whatever the response looked like."""
    error = ex.response.get("Error", {}) or {}
    metadata = ex.response.get("ResponseMetadata", {}) or {}
    status = int(metadata.get("HTTPStatusCode") or 500)
    code = str(error.get("Code") or "")
    if not code or code.isdigit():
        code = "ServiceException" if status >= 500 else "AWSLambdaException"
    message = str(error.get("Message") or "")
    if message.lstrip().startswith("<"):  # an HTML error page is no cause a user can read
        message = f"The service answered HTTP {status} without an error body."
    request_id = str(metadata.get("RequestId") or metadata.get("HTTPHeaders", {}).get("x-amzn-requestid", ""))
    return code, message, status, request_id


def _v1_cause(message: str, service: str, code: str, status: int, request_id: str) -> str:
    return (
        f"{message} (Service: {service}; Status Code: {status}; Error Code: {code}; "
        f"Request ID: {request_id}; Proxy: null)"
    )


# --- Lambda ---------------------------------------------------------------------------------------
_LAMBDA_ERROR_KEYS = ("errorMessage", "errorType", "requestId", "stackTrace")


def lambda_error_cause(payload: Any, request_id: str) -> tuple[str, str]:
    """(Error, Cause) of a Lambda function error, as Step Functions reports it.

    The cause is the function's error JSON, compact, in the order Lambda's runtimes write it; the error is its
    `errorType` (the exception class name), or `Lambda.Unknown` when the payload has none.
    """
    if isinstance(payload, dict | list | str | int | float | bool) or payload is None:
        document = payload
    else:
        document = str(payload)
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return "Lambda.Unknown", document
    if not isinstance(document, dict) or not document.get("errorType"):
        return "Lambda.Unknown", json.dumps(document, separators=(",", ":"))
    error_type = str(document["errorType"])
    if "requestId" not in document and request_id and not error_type.startswith("Sandbox."):
        document["requestId"] = request_id
    ordered = {key: document[key] for key in _LAMBDA_ERROR_KEYS if key in document}
    ordered.update({key: value for key, value in document.items() if key not in ordered})
    return error_type, json.dumps(ordered, separators=(",", ":"))


def lambda_invoke_result(response: dict[str, Any], payload: Any) -> dict[str, Any]:
    """What `arn:aws:states:::lambda:invoke` returns: the payload with the SDK's response metadata."""
    metadata = response.get("ResponseMetadata", {}) or {}
    headers = {str(k): str(v) for k, v in (metadata.get("HTTPHeaders") or {}).items()}
    request_id = str(metadata.get("RequestId") or headers.get("x-amzn-requestid", ""))
    version = str(response.get("ExecutedVersion") or headers.get("x-amz-executed-version") or "$LATEST")
    http_headers = {
        "Connection": "keep-alive",
        "Content-Length": headers.get("content-length", str(len(json.dumps(payload)))),
        "Content-Type": "application/json",
        "Date": headers.get(
            "date", datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        ),
        "X-Amz-Executed-Version": version,
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
        "X-Amzn-Trace-Id": headers.get("x-amzn-trace-id", ""),
    }
    return {
        "ExecutedVersion": version,
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in http_headers.items()},
            "HttpHeaders": http_headers,
            "HttpStatusCode": int(response.get("StatusCode", metadata.get("HTTPStatusCode", 200))),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": int(response.get("StatusCode", 200)),
    }


def _execute_lambda_function_integration(
    env: Any, parameters: dict[str, Any], region: str, state_credentials: Any
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    if env.is_mocked_mode():
        _originals["execute_lambda"](env, parameters, region, state_credentials)
        return
    response = lambda_eval_utils._invoke_lambda_function(
        parameters=parameters, region=region, state_credentials=state_credentials
    )
    request_id = str((response.get("ResponseMetadata") or {}).get("RequestId", ""))
    if response.get("FunctionError"):
        _, cause = lambda_error_cause(response["Payload"], request_id)
        raise lambda_eval_utils.LambdaFunctionErrorException(response["FunctionError"], cause)
    env.stack.append(lambda_invoke_result(response, response["Payload"]))


def _lambda_failure(task: Any, env: Any, ex: Exception, *, service: bool) -> Any:
    """The FailureEvent of a Lambda task's error, or None to let moto decide (timeouts, its own events)."""
    from moto.stepfunctions.parser.api import (
        HistoryEventType,
        LambdaFunctionFailedEventDetails,
        TaskFailedEventDetails,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if isinstance(ex, lambda_eval_utils.LambdaFunctionErrorException):
        error, cause = lambda_error_cause(ex.payload, "")
    elif isinstance(ex, ClientError):
        code, message, status, request_id = _client_error_parts(ex)
        error = f"Lambda.{code if code.endswith('Exception') else code + 'Exception'}"
        cause = _v1_cause(message, "AWSLambda", code, status, request_id)
    elif isinstance(ex, BotoCoreError):
        error, cause = "Lambda.SdkClientException", f"Unable to execute HTTP request: {ex}"
    else:
        return None
    if service:
        details = EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                error=error,
                cause=cause,
                resource=task._get_sfn_resource(),
                resourceType=task._get_sfn_resource_type(),
            )
        )
        event_type = HistoryEventType.TaskFailed
    else:
        details = EventDetails(
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
        )
        event_type = HistoryEventType.LambdaFunctionFailed
    return FailureEvent(
        env=env, error_name=CustomErrorName(error), event_type=event_type, event_details=details
    )


def _wrap_from_error(cls: type, *, service: bool) -> None:
    original = cls._from_error  # type: ignore[attr-defined]

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        event = _lambda_failure(self, env, ex, service=service)
        return event if event is not None else original(self, env, ex)

    cls._from_error = _from_error  # type: ignore[attr-defined]


# --- SDK integrations -----------------------------------------------------------------------------
def _decode_binary_attributes(value: Any) -> Any:
    """DynamoDB JSON carries `B`/`BS` as base64; boto3 encodes bytes itself, so hand it bytes."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("B"), str):
            return {"B": _b64decode(value["B"])}
        if len(value) == 1 and isinstance(value.get("BS"), list):
            return {"BS": [_b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
        return {key: _decode_binary_attributes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_binary_attributes(item) for item in value]
    return value


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return text.encode()


def _after_eval_execution(self: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
    if env.stack:
        env.stack[-1] = json_safe(env.stack[-1])
    return _originals["after_eval_execution"](self, env, *args, **kwargs)


def _dynamodb_normalise_parameters(self: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any) -> None:
    decoded = _decode_binary_attributes(parameters)
    parameters.clear()
    parameters.update(decoded)


def _to_boto_params(value: Any, shape: Any, protocol: str) -> Any:
    """Step Functions' PascalCase parameters → the botocore request shape (names matched case-insensitively;
    blobs from JSON values)."""
    type_name = getattr(shape, "type_name", None)
    if type_name == "structure" and isinstance(value, dict):
        members = {name.lower(): (name, member) for name, member in shape.members.items()}
        result: dict[str, Any] = {}
        for key, item in value.items():
            name, member = members.get(key.lower(), (key, None))
            result[name] = item if member is None else _to_boto_params(item, member, protocol)
        return result
    if type_name == "list" and isinstance(value, list):
        return [_to_boto_params(item, shape.member, protocol) for item in value]
    if type_name == "map" and isinstance(value, dict):
        return {key: _to_boto_params(item, shape.value, protocol) for key, item in value.items()}
    if type_name == "blob" and not isinstance(value, bytes):
        if isinstance(value, str):
            return _b64decode(value) if protocol == "json" else value.encode()
        return json.dumps(value, separators=(",", ":")).encode()
    if type_name == "string" and isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


def _from_boto_response(value: Any, shape: Any) -> Any:
    """A botocore response → the PascalCase fields Step Functions' aws-sdk integrations answer with."""
    type_name = getattr(shape, "type_name", None)
    if type_name == "structure" and isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            member = shape.members.get(key)
            result[key[:1].upper() + key[1:]] = item if member is None else _from_boto_response(item, member)
        return result
    if type_name == "list" and isinstance(value, list):
        return [_from_boto_response(item, shape.member) for item in value]
    if type_name == "map" and isinstance(value, dict):
        return {key: _from_boto_response(item, shape.value) for key, item in value.items()}
    return value


def _aws_sdk_eval_service_task(
    self: Any,
    env: Any,
    resource_runtime_part: Any,
    normalised_parameters: dict[str, Any],
    state_credentials: Any,
) -> None:
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    service_name = self._get_boto_service_name()
    api_action = self._get_boto_service_action()
    client = boto_client_for(
        service=service_name, region=resource_runtime_part.region, state_credentials=state_credentials
    )
    model = client.meta.service_model
    operation = next(
        (model.operation_model(name) for name in model.operation_names if _snake(name) == api_action), None
    )
    if operation is None:
        raise ValueError(f"The API action {self.resource.api_action} is not part of {service_name}'s API.")
    parameters = _to_boto_params(normalised_parameters, operation.input_shape, model.protocol)
    response = getattr(client, api_action)(**parameters) or {}
    response.pop("ResponseMetadata", None)
    if operation.output_shape is not None:
        response = _from_boto_response(response, operation.output_shape)
    env.stack.append(json_safe(response))


#: The rule Step Functions manages to follow a child execution (`.sync` integrations).
_SYNC_RULE = "StepFunctionsGetEventsForStepFunctionsExecutionRule"


def _require_sync_rule(region: str, state_credentials: Any) -> None:
    authority = iam.current()
    role_arn = getattr(state_credentials, "role_arn", None)
    if authority is None or not role_arn:
        return
    principal = authority.session(role_arn, "states.amazonaws.com", "StepFunctions").principal
    rule = f"arn:aws:events:{region}:{authority.account}:rule/{_SYNC_RULE}"
    actions = ("events:PutTargets", "events:PutRule", "events:DescribeRule")
    try:
        authority.require(principal, [Check(action, rule) for action in actions])
    except iam.AccessDeniedError as denied:
        raise ClientError(
            {
                "Error": {"Code": "AccessDeniedException", "Message": str(denied)},
                "ResponseMetadata": {
                    "RequestId": str(uuid.uuid4()),
                    "HostId": "",
                    "HTTPStatusCode": 400,
                    "HTTPHeaders": {},
                    "RetryAttempts": 0,
                },
            },
            "StartExecution",
        ) from denied


def _sfn_from_error(original: Any) -> Any:
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        """moto names a Step Functions error `StepFunctions.<Code>Exception` even when the code already
        ends in `Exception` (`StepFunctions.AccessDeniedExceptionException`)."""
        event = original(self, env, ex)
        name = str(event.error_name.error_name or "")
        if name.endswith("ExceptionException"):
            from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
                CustomErrorName,
            )

            fixed = name.removesuffix("Exception")
            event.error_name = CustomErrorName(fixed)
            details = (event.event_details or {}).get("taskFailedEventDetails")
            if details is not None:
                details["error"] = fixed
        return event

    return from_error


def _sfn_eval_service_task(
    self: Any,
    env: Any,
    resource_runtime_part: Any,
    normalised_parameters: dict[str, Any],
    state_credentials: Any,
) -> None:
    """states:startExecution & co. take Step Functions' PascalCase parameters; botocore wants camelCase.
    With IAM on, a `.sync` task's role must also manage Step Functions' EventBridge rule, as on AWS."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    if getattr(self.resource, "condition", None) in ("sync", "sync:2"):
        _require_sync_rule(resource_runtime_part.region, state_credentials)

    client = boto_client_for(
        service="stepfunctions", region=resource_runtime_part.region, state_credentials=state_credentials
    )
    model = client.meta.service_model
    api_action = self._get_boto_service_action()
    operation = next(name for name in model.operation_names if _snake(name) == api_action)
    converted = _to_boto_params(normalised_parameters, model.operation_model(operation).input_shape, "json")
    normalised_parameters.clear()
    normalised_parameters.update(converted)
    _originals["sfn_eval_service_task"](
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    )
    output_shape = model.operation_model(operation).output_shape
    if output_shape is not None:
        env.stack[-1] = _from_boto_response(env.stack[-1], output_shape)


def _pascal_sync_resolver(original: Any) -> Any:
    """`.sync`/`.sync:2` results are DescribeExecution's fields in PascalCase, as the optimised integration
    answers them."""

    def build(self: Any, *args: Any, **kwargs: Any) -> Any:
        resolver = original(self, *args, **kwargs)

        def resolve() -> Any:
            result = resolver()
            if isinstance(result, dict) and result and all(key[:1].islower() for key in result):
                return {key[:1].upper() + key[1:]: value for key, value in result.items()}
            return result

        return resolve

    return build


def _snake(name: str) -> str:
    from botocore import xform_name

    return str(xform_name(name))


def _aws_sdk_from_error(self: Any, env: Any, ex: Exception) -> Any:
    if not isinstance(ex, ClientError):
        return _originals["aws_sdk_from_error"](self, env, ex)
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    try:
        service_id = boto_client_for(
            service=self._get_boto_service_name(), region="us-east-1"
        ).meta.service_model
        service = _pascal_service_name(str(service_id.service_id))
    except Exception:
        log.debug("No service model for %s", self.resource.api_name, exc_info=True)
        service = _pascal_service_name(self.resource.api_name.capitalize())
    error = f"{service}.{_exception_name(ex)}"
    _, message, status, request_id = _client_error_parts(ex)
    cause = f"{message} (Service: {service}, Status Code: {status}, Request ID: {request_id})"
    return self._get_task_failure_event(env=env, error=error, cause=cause)


def _sqs_from_error(self: Any, env: Any, ex: Exception) -> Any:
    if not isinstance(ex, ClientError):
        return _originals["sqs_from_error"](self, env, ex)
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    code, message, status, request_id = _client_error_parts(ex)
    error = f"SQS.{_exception_name(ex)}"
    cause = _v1_cause(message, "AmazonSQS", code, status, request_id)
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(error),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                error=error,
                cause=cause,
                resource=self._get_sfn_resource(),
                resourceType=self._get_sfn_resource_type(),
            )
        ),
    )


# --- task tokens ----------------------------------------------------------------------------------
def _service_from_error(self: Any, env: Any, ex: Exception) -> Any:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if isinstance(ex, HeartbeatTimeoutError):
        name = StatesErrorNameType.StatesHeartbeatTimeout
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=name),
            event_type=HistoryEventType.TaskTimedOut,
            event_details=EventDetails(
                taskTimedOutEventDetails=TaskTimedOutEventDetails(
                    resourceType=self._get_sfn_resource_type(),
                    resource=self._get_sfn_resource(),
                    error=name.to_name(),
                )
            ),
        )
    return _originals["service_from_error"](self, env, ex)


def _notify_heartbeat(self: Any) -> bool:
    # A token is live from the moment it is issued: a heartbeat sent before the task has armed its heartbeat
    # clock (the message holding the token can be read first) or to a task without `HeartbeatSeconds` is
    # accepted and changes nothing.
    if self._heartbeat_endpoint is not None:
        self._heartbeat_endpoint.notify()
    return True


def _send_task_failure_response(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


# --- context object -------------------------------------------------------------------------------
def _evaluation_environment(self: Any) -> Any:
    env = _originals["evaluation_environment"](self)
    execution = env.states.context_object.context_object_data["Execution"]
    if isinstance(execution.get("StartTime"), datetime.datetime | str):
        execution["StartTime"] = iso_millis(execution["StartTime"])
    return env


def _state_data(**fields: Any) -> dict[str, Any]:
    if isinstance(fields.get("EnteredTime"), str | datetime.datetime):
        fields["EnteredTime"] = iso_millis(fields["EnteredTime"])
    return dict(fields)


# --- definitions: fields moto's grammar lacks -----------------------------------------------------
#: Map fields moto's grammar does not parse; the embedded AWS runs them itself.
_MAP_EXTRAS = ("ItemBatcher",)


def _states_of(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every nested `States` object of one state (Map processors, Parallel branches)."""
    for key in ("ItemProcessor", "Iterator"):
        if isinstance(state.get(key), dict) and isinstance(state[key].get("States"), dict):
            yield state[key]["States"]
    for branch in state.get("Branches") or []:
        if isinstance(branch, dict) and isinstance(branch.get("States"), dict):
            yield branch["States"]


def preprocess_definition(definition: str) -> str:
    """Rewrite what moto's grammar cannot parse into what it can, keeping the meaning for the patches here.

    `ItemBatcher` and the tolerated-failure fields a Map declares travel in its `Comment` (which moto keeps on
    the state); `ExecutionType: EXPRESS` child workflows run as moto runs every child workflow.
    """
    try:
        document = json.loads(definition)
    except json.JSONDecodeError:
        return definition
    if not isinstance(document, dict) or not isinstance(document.get("States"), dict):
        return definition
    changed = False

    def visit(states: dict[str, Any]) -> None:
        nonlocal changed
        for state in states.values():
            if not isinstance(state, dict):
                continue
            if state.get("Type") == "Map":
                extras = {key: state.pop(key) for key in _MAP_EXTRAS if key in state}
                extras["Tolerance"] = sorted(
                    key
                    for key in state
                    if key.startswith(("ToleratedFailureCount", "ToleratedFailurePercentage"))
                )
                percentage = state.get("ToleratedFailurePercentage")
                if isinstance(percentage, int) and not isinstance(percentage, bool):
                    state["ToleratedFailurePercentage"] = float(percentage)  # moto's grammar wants a decimal
                processor = state.get("ItemProcessor")
                config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
                if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                    config["ExecutionType"] = "STANDARD"
                    extras["ExecutionType"] = "EXPRESS"
                if extras.get("ItemBatcher") or extras["Tolerance"] or "ExecutionType" in extras:
                    extras["Comment"] = state.get("Comment")
                    encoded = base64.b64encode(json.dumps(extras, separators=(",", ":")).encode()).decode()
                    state["Comment"] = _EXTRA_PREFIX + encoded
                    changed = True
            for nested in _states_of(state):
                visit(nested)

    visit(document["States"])
    return json.dumps(document) if changed else definition


def map_extras(state: Any) -> dict[str, Any]:
    """What `preprocess_definition` kept aside for one Map state."""
    comment = getattr(state, "comment", None)
    text = getattr(comment, "comment", comment)
    if isinstance(text, str) and text.startswith(_EXTRA_PREFIX):
        extras: dict[str, Any] = json.loads(base64.b64decode(text[len(_EXTRA_PREFIX) :]))
        return extras
    return {}


def _parse(definition: str) -> Any:
    return _originals["parse"](preprocess_definition(definition))


# --- Distributed Map: batching and tolerated failures ---------------------------------------------
class ChildFailed:
    """A child workflow that failed, kept in the job pool until the Map Run weighs its failures."""

    def __init__(self, error: dict[str, Any]) -> None:
        self.error = error

    def __deepcopy__(self, memo: dict[int, Any]) -> ChildFailed:
        return ChildFailed(copy.deepcopy(self.error, memo))


def _distributed_eval_job(self: Any, env: Any, job: Any) -> None:
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError

    _originals["distributed_eval_job"](self, env, job)
    state = env.program_state()
    if isinstance(state, ProgramEnded):
        return
    error: dict[str, Any] = {}
    if isinstance(state, ProgramError):
        details = state.error or {}
        error = {"Error": details.get("error"), "Cause": details.get("cause")}
    job.job_output = ChildFailed({k: v for k, v in error.items() if v is not None})


def _resolve(env: Any, value: Any, path_key: str, source: dict[str, Any]) -> Any:
    """A field given as a value or as `<Field>Path` (a JSONPath into the Map's input)."""
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    if path_key in source:
        return extract_json(source[path_key], env.stack[-1] if env.stack else {})
    return value


def _batch(env: Any, items: list[Any], batcher: dict[str, Any]) -> list[Any]:
    from moto.stepfunctions.parser.asl.utils.json_path import extract_json

    max_items = _resolve(env, batcher.get("MaxItemsPerBatch"), "MaxItemsPerBatchPath", batcher)
    max_bytes = _resolve(env, batcher.get("MaxInputBytesPerBatch"), "MaxInputBytesPerBatchPath", batcher)
    batch_input = batcher.get("BatchInput")
    if isinstance(batch_input, dict):
        map_input = env.stack[-1] if env.stack else {}
        batch_input = {
            (key[:-2] if key.endswith(".$") else key): (
                extract_json(value, map_input) if key.endswith(".$") else value
            )
            for key, value in batch_input.items()
        }
    limit_items = int(max_items) if max_items else len(items) or 1
    limit_bytes = int(max_bytes) if max_bytes else 256 * 1024
    batches: list[list[Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")).encode())
        if not batches or len(batches[-1]) >= limit_items or size + item_size > limit_bytes:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += item_size
    return [
        {"Items": batch, **({"BatchInput": batch_input} if batch_input is not None else {})}
        for batch in batches
    ]


def _select_items(env: Any, eval_input: Any, items: list[Any]) -> list[Any]:
    """Apply the Map's ItemSelector (or Parameters) to each item, as the child workflows would have."""
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    selector = eval_input.item_selector or eval_input.parameters
    if selector is None:
        return items
    map_input = env.stack[-1] if env.stack else {}
    selected: list[Any] = []
    frame = env.open_inner_frame()
    try:
        for index, item in enumerate(items):
            frame.states.context_object.context_object_data["Map"] = MapData(
                Item=ItemData(Index=index, Value=item)
            )
            frame.states.reset(input_value=map_input)
            frame.stack.append(map_input)
            selector.eval(frame)
            selected.append(frame.stack.pop())
    finally:
        env.delete_frame(frame)
    eval_input.item_selector = None
    eval_input.parameters = None
    return selected


def _map_run(self: Any, env: Any, eval_input: Any) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    extras: dict[str, Any] = getattr(self, "embedded_extras", {})
    batcher = extras.get("ItemBatcher")
    if batcher:
        items = env.stack.pop()
        env.stack.append(_batch(env, _select_items(env, eval_input, list(items)), batcher))
    jobs = env.stack[-1]
    # AWS weighs failures by items: a failed batch counts each item in it.
    weights = [len(job["Items"]) if batcher else 1 for job in jobs]
    _originals["map_run"](self, env, eval_input)
    outputs: list[Any] = env.stack.pop()
    failed = sum(w for output, w in zip(outputs, weights, strict=False) if isinstance(output, ChildFailed))
    record = eval_input.map_run_record
    tolerance = set(extras.get("Tolerance", []))
    exceeded = False
    if failed:
        by_count = any(key.startswith("ToleratedFailureCount") for key in tolerance)
        by_percentage = any(key.startswith("ToleratedFailurePercentage") for key in tolerance)
        if by_count and failed > int(record.tolerated_failure_count):
            exceeded = True
        if by_percentage and failed * 100.0 / sum(weights) > float(record.tolerated_failure_percentage):
            exceeded = True
        if not by_count and not by_percentage:
            exceeded = True
    if exceeded:
        name = StatesErrorNameType.StatesExceedToleratedFailureThreshold
        cause = "The specified tolerated failure threshold was exceeded"
        raise FailureEventException(
            FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=name),
                event_type=HistoryEventType.MapRunFailed,
                event_details=EventDetails(
                    mapRunFailedEventDetails=MapRunFailedEventDetails(error=name.to_name(), cause=cause)
                ),
            )
        )
    env.stack.append([output.error if isinstance(output, ChildFailed) else output for output in outputs])


def _attach_map_extras(program: Any) -> None:
    """Hand each distributed Map's kept-aside fields to its iteration component."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel

    def visit(states: Any) -> None:
        for state in getattr(states, "states", {}).values():
            if isinstance(state, StateMap):
                state.iteration_component.embedded_extras = map_extras(state)
                visit(getattr(state.iteration_component, "_states", None))
            elif isinstance(state, StateParallel):
                for branch in state.branches.programs:
                    visit(branch.states)

    visit(getattr(program, "states", None))


#: Parsed definitions by their text, most recently used last. The evaluation components a parse yields hold
#: no state of an execution (that lives in its Environment, workers and job pools), so executions share them.
_programs: collections.OrderedDict[str, tuple[Any, Any]] = collections.OrderedDict()
_programs_lock = threading.Lock()
MAX_PROGRAMS = 256


def _parse_and_attach(definition: str) -> Any:
    """Parse a definition once: moto's ANTLR parser took 0.1 s of CPU per execution of a 10-state workflow."""
    with _programs_lock:
        parsed = _programs.get(definition)
        if parsed is not None:
            _programs.move_to_end(definition)
            return parsed
    program, tree = _parse(definition)  # a definition that fails to parse raises every time, never cached
    _attach_map_extras(program)
    with _programs_lock:
        _programs[definition] = (program, tree)
        while len(_programs) > MAX_PROGRAMS:
            _programs.popitem(last=False)
    return program, tree


# --- JSONata --------------------------------------------------------------------------------------
_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _jsonata_hash(value: Any, algorithm: str) -> str:
    if algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"The hash algorithm {algorithm} is not one of {', '.join(_HASH_ALGORITHMS)}.")
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return hashlib.new(_HASH_ALGORITHMS[algorithm], text.encode()).hexdigest()


def eval_jsonata(expression: str) -> Any:
    """Evaluate a composed JSONata expression with jsonata-python (a port of the jsonata-java AWS uses)."""
    import jsonata  # type: ignore[import-untyped]  # jsonata-python ships no type information
    from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as functions
    from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException

    # moto declares Step Functions' $uuid and $hash as stubs returning "not supported": give the real ones.
    for stub in (functions._DECLARATION_UUID, functions._DECLARATION_HASH):
        expression = expression.replace(stub, "")
    try:
        compiled = jsonata.Jsonata(expression)
        compiled.register_lambda("uuid", lambda: str(uuid.uuid4()))
        compiled.register_lambda("hash", _jsonata_hash)
        result = compiled.evaluate(None)
    except Exception as exc:  # any evaluator failure is the state's States.QueryEvaluationError
        raise JSONataException("UNKNOWN", str(exc)) from exc
    return json.loads(json.dumps(result)) if result is not None else None


# --- install --------------------------------------------------------------------------------------
_client_lock = threading.Lock()
_clients: dict[tuple[str, str, int, str], Any] = {}
#: moto's modules that imported `boto_client_for` by name (so each needs the shared version set on it).
_CLIENT_USERS = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    *(
        f"moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_{name}"
        for name in (
            "unsupported",
            "glue",
            "events",
            "ecs",
            "sqs",
            "sfn",
            "dynamodb",
            "batch",
            "sns",
            "aws_sdk",
        )
    ),
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3",
)


_heap_key_lock = threading.Lock()


def _heap_key(self: Any) -> str:
    key: str | None = self._EvalComponent__heap_key
    if key is None:
        from moto.stepfunctions.parser.utils import long_uid

        with _heap_key_lock:
            key = self._EvalComponent__heap_key
            if key is None:
                key = str(long_uid())
                self._EvalComponent__heap_key = key
    return key


@dataclasses.dataclass
class _Refusal:
    """An error shaped as moto's JsonRESTError, for `_InProcessLambda._error`."""

    error_type: str
    message: str
    code: int


class _InProcessLambda:
    """The Lambda client of Lambda tasks: a plain `Invoke` (request-response, a name or ARN, a qualifier, a
    payload) calls the Lambda backend of this process, as the HTTP request would, and answers what botocore
    would have parsed from the response; every other call goes to the real client. A task's request to its
    own server cost a sixth of the server's time under load: the client's work and the server's, each
    holding the GIL, for nothing but a copy of the payload."""

    _SIMPLE = frozenset({"FunctionName", "Payload", "Qualifier", "InvocationType"})

    def __init__(self, client: Any, region: str, principal: Principal | None = None) -> None:
        self._client = client
        self._region = region
        self._principal = principal  # the state machine's role session (None: IAM is off)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def invoke(self, **params: Any) -> dict[str, Any]:
        """`lambda:Invoke`, in process when it is a plain request-response call."""
        plain = params.get("InvocationType", "RequestResponse") == "RequestResponse"
        if not plain or params.keys() - self._SIMPLE:
            return dict(self._client.invoke(**params))
        from moto.awslambda.models import lambda_backends
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.exceptions import JsonRESTError

        self._authorize(str(params["FunctionName"]), params.get("Qualifier"))
        body = params.get("Payload", b"")
        body = body.decode("utf-8", "surrogateescape") if isinstance(body, bytes) else str(body)
        headers: dict[str, str] = {}
        backend = lambda_backends[DEFAULT_ACCOUNT_ID][self._region]
        try:
            payload = backend.invoke(params["FunctionName"], params.get("Qualifier"), body, {}, headers)
        except JsonRESTError as exc:  # Lambda's refusals (unknown function, throttled, too large)
            raise self._error(exc) from exc
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)
        request_id = headers.get("x-amzn-requestid") or str(uuid.uuid4())
        http_headers = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "x-amzn-requestid": request_id,
            "content-length": str(len(data)),
            "content-type": "application/json",
        }
        response: dict[str, Any] = {
            "ResponseMetadata": {
                "RequestId": request_id,
                "HTTPStatusCode": 200,
                "HTTPHeaders": http_headers,
                "RetryAttempts": 0,
            },
            "StatusCode": 200,
            "Payload": StreamingBody(io.BytesIO(data), len(data)),
        }
        if "x-amz-function-error" in headers:
            http_headers["x-amz-function-error"] = headers["x-amz-function-error"]
            response["FunctionError"] = headers["x-amz-function-error"]
        return response

    def _authorize(self, name: str, qualifier: str | None) -> None:
        """lambda:InvokeFunction for the state machine's role, as the HTTP request would be checked."""
        authority = iam.current()
        if authority is None or self._principal is None:
            return
        from moto.core import DEFAULT_ACCOUNT_ID

        arn = function_arn(name, self._region, DEFAULT_ACCOUNT_ID, qualifier)
        try:
            authority.require(self._principal, [Check("lambda:InvokeFunction", arn)])
        except iam.AccessDeniedError as denied:
            raise self._error(_Refusal("AccessDeniedException", str(denied), 403)) from denied

    def _error(self, exc: Any) -> ClientError:
        """moto's refusal as the ClientError botocore raises for its HTTP answer."""
        code = str(exc.error_type)
        error_class = self._client.exceptions.from_code(code)
        request_id = str(uuid.uuid4())
        return error_class(  # type: ignore[no-any-return]
            {
                "Error": {"Message": str(exc.message), "Code": code},
                "ResponseMetadata": {
                    "RequestId": request_id,
                    "HTTPStatusCode": int(exc.code),
                    "HTTPHeaders": {"x-amzn-errortype": code, "x-amzn-requestid": request_id},
                    "RetryAttempts": 0,
                },
            },
            "Invoke",
        )


def _shared_boto_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's `boto_client_for`, made once per region, service, server port and role: moto made a new client
    for every task (tens of milliseconds of CPU each, holding the GIL the server needs under load). Clients
    are thread-safe. With IAM on, a task acts as its state machine's role (`state_credentials.role_arn`),
    as on AWS. Lambda's client is wrapped in `_InProcessLambda`."""
    from moto.settings import moto_server_port

    role_arn = getattr(state_credentials, "role_arn", None)
    authority = iam.current()
    session = None
    if authority is not None and role_arn:
        session = authority.session(role_arn, "states.amazonaws.com", "StepFunctions")
    key = (region, service, int(moto_server_port()), session.access_key_id if session else "")
    with _client_lock:
        if key not in _clients:
            client = _originals["boto_client_for"](region, service, state_credentials)
            if session is not None:
                client = _role_client(client, session)
            principal = session.principal if session else None
            _clients[key] = _InProcessLambda(client, region, principal) if service == "lambda" else client
        return _clients[key]


def _role_client(template: Any, session: iam.Session) -> Any:
    """A client like moto's `template` (endpoint, config), signing with the role session's credentials."""
    import boto3

    return boto3.client(
        template.meta.service_model.service_name,
        region_name=template.meta.region_name,
        endpoint_url=template.meta.endpoint_url,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        config=template.meta.config,
    )


def install() -> None:
    """Patch moto's ASL interpreter as described above. Idempotent."""
    if _originals:
        return
    from moto.stepfunctions.parser.asl.utils import boto_client

    _originals["boto_client_for"] = boto_client.boto_client_for
    # moto parses a JSONPath (building jsonpath-ng's parser, tables and all) on every evaluation of a path:
    # a sixth of the server's CPU under load. A parsed path is an immutable tree, shared by every execution.
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    # A component's heap key (where an execution keeps, say, a retrier's attempts) is drawn on first use,
    # unlocked: two executions sharing a parsed program could draw two. One lock makes it drawn once.
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    EvalComponent.heap_key = property(_heap_key)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)
    for name in _CLIENT_USERS:
        module = importlib.import_module(name)
        if hasattr(module, "boto_client_for"):
            module.boto_client_for = _shared_boto_client  # type: ignore[attr-defined]
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
        state_task_lambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service,
        state_task_service_aws_sdk,
        state_task_service_dynamodb,
        state_task_service_lambda,
        state_task_service_sfn,
        state_task_service_sqs,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint
    from moto.stepfunctions.parser.asl.jsonata import jsonata as jsonata_module
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.responses import StepFunctionResponse

    service = state_task_service.StateTaskService
    aws_sdk = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    sqs = state_task_service_sqs.StateTaskServiceSqs
    component = distributed_iteration_component.DistributedIterationComponent
    worker = distributed_item_processor_worker.DistributedItemProcessorWorker

    _originals.update(
        execute_lambda=lambda_eval_utils.execute_lambda_function_integration,
        after_eval_execution=service._after_eval_execution,
        service_from_error=service._from_error,
        aws_sdk_from_error=aws_sdk._from_error,
        sqs_from_error=sqs._from_error,
        sfn_eval_service_task=state_task_service_sfn.StateTaskServiceSfn._eval_service_task,
        evaluation_environment=ExecutionWorker._get_evaluation_environment,
        parse=AmazonStateLanguageParser.parse,
        map_run=component._map_run,
        distributed_eval_job=worker._eval_job,
    )
    lambda_eval_utils.execute_lambda_function_integration = _execute_lambda_function_integration
    _wrap_from_error(state_task_service_lambda.StateTaskServiceLambda, service=True)
    _wrap_from_error(state_task_lambda.StateTaskLambda, service=False)
    service._after_eval_execution = _after_eval_execution
    CallbackEndpoint.notify_heartbeat = _notify_heartbeat
    service._from_error = _service_from_error
    state_task_service_dynamodb.StateTaskServiceDynamoDB._normalise_parameters = (
        _dynamodb_normalise_parameters
    )
    aws_sdk._eval_service_task = _aws_sdk_eval_service_task
    aws_sdk._from_error = _aws_sdk_from_error
    sqs._from_error = _sqs_from_error
    sfn_task = state_task_service_sfn.StateTaskServiceSfn
    sfn_task._eval_service_task = _sfn_eval_service_task
    sfn_task._from_error = _sfn_from_error(sfn_task._from_error)
    sfn_task._build_sync_resolver = _pascal_sync_resolver(sfn_task._build_sync_resolver)
    sfn_task._build_sync2_resolver = _pascal_sync_resolver(sfn_task._build_sync2_resolver)
    StepFunctionResponse.send_task_failure = _send_task_failure_response
    ExecutionWorker._get_evaluation_environment = _evaluation_environment
    state_module.StateData = _state_data
    AmazonStateLanguageParser.parse = staticmethod(_parse_and_attach)
    component._map_run = _map_run
    worker._eval_job = _distributed_eval_job
    jsonata_module._eval_jsonata = eval_jsonata
