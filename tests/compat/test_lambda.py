"""The local Lambda runtime as Lambda's Python runtimes behave: interpreters, logging, limits, errors."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from embedded_aws import interpreters
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _invoke(aws: EmbeddedAws, name: str, event: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Invoke through the Lambda API; the response with its payload read and parsed."""
    body = event if isinstance(event, bytes) else json.dumps(event or {}).encode()
    response: dict[str, Any] = aws.client("lambda").invoke(FunctionName=name, Payload=body, **kwargs)
    raw = response["Payload"].read()
    response["Payload"] = json.loads(raw) if raw else None
    return response


def _needs(runtime: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        interpreters.find(runtime) is None,
        reason=f"no {runtime} interpreter here (PATH, pyenv, or {interpreters.env_variable(runtime)})",
    )


def _log(aws: EmbeddedAws, name: str) -> list[str]:
    """The function's log lines, once an invocation's REPORT line (text or JSON) is there."""
    path = aws.runtime.log_dir / f"{name}.log"

    def lines() -> list[str]:
        text = path.read_text() if path.exists() else ""
        return text.splitlines() if "REPORT RequestId: " in text or '"platform.report"' in text else []

    found: list[str] = poll_until(lines, timeout_s=10)
    return found


# --- runtimes ----------------------------------------------------------------------------------------------
@_needs("python3.12")
def test_a_python312_function_runs_on_python_312_with_its_syntax_and_boto3(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a python3.12 function whose module uses a `type` alias and PEP 695 generics
    stack = deploy_compat("lambda_runtimes")
    name = stack.outputs["Python312FunctionName"]

    # When it is invoked
    response = _invoke(aws, name)

    # Then it ran on Python 3.12, with Lambda's boto3 importable, and said so at deploy
    assert "FunctionError" not in response, response["Payload"]
    assert response["Payload"] == {
        "version": [3, 12],
        "boto3": boto3.__version__,
        "execution_env": "AWS_Lambda_python3.12",
        "boxed": 3,
        "remaining_ms": response["Payload"]["remaining_ms"],
    }
    assert 0 < response["Payload"]["remaining_ms"] <= 30_000
    _, stats, _ = aws.runtime.stats()[name]
    assert stats.interpreter.startswith("Python 3.12")
    assert stats.interpreter_note == ""


@pytest.mark.parametrize(
    ("runtime", "output"),
    [
        pytest.param("python3.9", "Python39FunctionName", marks=_needs("python3.9")),
        pytest.param("python3.13", "Python313FunctionName", marks=_needs("python3.13")),
    ],
)
def test_functions_get_the_environment_and_context_of_their_runtime(
    aws: EmbeddedAws, deploy_compat: DeployCompat, runtime: str, output: str
) -> None:
    # Given a function on a Python other than the host's
    stack = deploy_compat("lambda_runtimes")
    name = stack.outputs[output]
    code_dir = str(stack.functions[output.removesuffix("Name")].code_dir)

    # When it is invoked
    response = _invoke(aws, name)

    # Then it ran on that Python, in its code directory, with what Lambda's runtime sets
    result = response["Payload"]
    assert "FunctionError" not in response, result
    assert result["version"] == [3, int(runtime.rsplit(".", 1)[1])]
    assert result["execution_env"] == f"AWS_Lambda_{runtime}"
    assert result["task_root"] == result["cwd"] == code_dir
    assert result["runtime_dir"]
    assert result["tmp_writable"] is True
    assert re.fullmatch(_UUID, result["request_id"])
    assert result["function_name"] == name
    assert result["memory_limit_in_mb"] == "256"  # a string, as Lambda's runtime gives it
    assert result["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", result["log_stream_name"])
    assert 0 < result["remaining_ms"] <= 30_000
    assert result["invoked_function_arn"].endswith(f":function:{name}")
    # ...and boto3 is there unless the host's boto3 cannot run on that Python, which the deploy said
    _, stats, _ = aws.runtime.stats()[name]
    assert stats.interpreter.startswith(f"Python 3.{runtime.rsplit('.', 1)[1]}")
    if "boto3" in stats.interpreter_note:
        assert result["boto3"] is None
    else:
        assert result["boto3"] == boto3.__version__


# --- logging -----------------------------------------------------------------------------------------------
def test_the_root_logger_writes_lambda_text_lines_with_the_request_id(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function that sets the root logger to INFO and logs at every level (LogFormat Text)
    stack = deploy_compat("lambda_logging")
    name = stack.outputs["TextLogsFunctionName"]

    # When it is invoked
    response = _invoke(aws, name, {"order": "o-7"})
    assert response["Payload"] == {"order": "o-7"}

    # Then its log holds Lambda's `[LEVEL]\ttimestamp\trequest id\tmessage` lines, without the DEBUG one
    lines = _log(aws, name)
    [start] = [line for line in lines if line.startswith("START RequestId: ")]
    request_id = start.split()[2]
    stamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
    assert any(re.fullmatch(rf"\[INFO\]\t{stamp}\t{request_id}\torder o-7 received", line) for line in lines)
    assert any(re.fullmatch(rf"\[WARNING\]\t{stamp}\t{request_id}\tstock low", line) for line in lines)
    error = next(i for i, line in enumerate(lines) if line.startswith("[ERROR]"))
    assert re.fullmatch(rf"\[ERROR\]\t{stamp}\t{request_id}\tcould not split order o-7", lines[error])
    assert lines[error + 1] == "Traceback (most recent call last):"
    assert "a plain print line" in lines
    assert not any("debug detail" in line for line in lines)
    assert f"END RequestId: {request_id}" in lines
    assert any(line.startswith(f"REPORT RequestId: {request_id}\tDuration: ") for line in lines)
    config = aws.client("lambda").get_function_configuration(FunctionName=name)
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}


def test_log_format_json_writes_structured_lines_at_the_application_log_level(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function with LoggingConfig LogFormat JSON (application and system levels default to INFO)
    stack = deploy_compat("lambda_logging")
    name = stack.outputs["JsonLogsFunctionName"]

    # When it is invoked
    _invoke(aws, name, {"order": "o-8"})

    # Then each logging call is one JSON object with Lambda's keys, DEBUG filtered out, extras kept
    lines = _log(aws, name)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    [start] = [r for r in records if r.get("type") == "platform.start"]
    request_id = start["record"]["requestId"]
    logged = [r for r in records if "level" in r]
    assert [(r["level"], r["message"]) for r in logged] == [
        ("INFO", "order o-8 received"),
        ("WARNING", "stock low"),
        ("ERROR", "could not split order o-8"),
    ]
    info, warning, error = logged
    assert set(info) == {"timestamp", "level", "message", "logger", "requestId"}
    assert (info["logger"], info["requestId"]) == ("root", request_id)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", info["timestamp"])
    assert warning["sku"] == "A-1"
    assert (error["errorType"], error["errorMessage"]) == ("ZeroDivisionError", "division by zero")
    assert error["stackTrace"] and error["location"].endswith(":handler:17")
    # ...print output stays plain text, and the platform's lines are JSON too
    assert "a plain print line" in lines
    [report] = [r for r in records if r.get("type") == "platform.report"]
    assert (report["record"]["requestId"], report["record"]["status"]) == (request_id, "success")
    config = aws.client("lambda").get_function_configuration(FunctionName=name)
    assert config["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }


def test_application_and_system_log_levels_filter_what_reaches_the_log(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a JSON-logging function with ApplicationLogLevel WARN and SystemLogLevel WARN
    stack = deploy_compat("lambda_logging")
    name = stack.outputs["JsonWarnLogsFunctionName"]

    # When it is invoked
    _invoke(aws, name, {"order": "o-9"})

    # Then only WARN and ERROR records are written, and no INFO-level platform lines (START, REPORT)
    path = aws.runtime.log_dir / f"{name}.log"
    lines = poll_until(lambda: [x for x in path.read_text().splitlines() if "could not split" in x], 10)
    assert lines
    records = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    assert [r["level"] for r in records] == ["WARNING", "ERROR"]


def test_function_logs_reach_cloudwatch_logs_in_the_functions_log_group(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function that logs through the root logger and print
    stack = deploy_compat("lambda_logging")
    name = stack.outputs["TextLogsFunctionName"]

    # When it is invoked
    _invoke(aws, name, {"order": "o-6"})
    _log(aws, name)

    # Then CloudWatch Logs holds its lines in /aws/lambda/<name>, in a per-environment stream
    group = f"/aws/lambda/{name}"
    logs = aws.client("logs")

    def messages() -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = logs.filter_log_events(logGroupName=group)["events"]
        return events if any(e["message"].startswith("REPORT RequestId: ") for e in events) else []

    events = poll_until(messages, timeout_s=10)
    texts = [e["message"] for e in events]
    assert texts[0].startswith("START RequestId: ")
    assert any(t.endswith("\torder o-6 received") and t.startswith("[INFO]\t") for t in texts)
    assert "a plain print line" in texts
    [stream] = {e["logStreamName"] for e in events}
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream)


def test_log_type_tail_returns_the_invocations_log_and_its_request_id(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function that logs
    name = deploy_compat("lambda_logging").outputs["TextLogsFunctionName"]

    # When it is invoked with LogType Tail, twice (a cold and a warm start)
    for order in ("o-4", "o-5"):
        response = _invoke(aws, name, {"order": order}, LogType="Tail")

        # Then LogResult is the base64 tail of that invocation's log, from START to REPORT, under 4 KB
        tail = base64.b64decode(response["LogResult"]).decode()
        request_id = response["ResponseMetadata"]["RequestId"]  # the invocation's id, as on Lambda
        lines = tail.splitlines()
        assert len(tail.encode()) <= 4096
        assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
        assert any(line.endswith(f"\t{request_id}\torder {order} received") for line in lines)
        assert lines[-1].startswith(f"REPORT RequestId: {request_id}\t")
        assert not any(other in tail for other in ("o-4", "o-5") if other != order)


# --- payload limits ----------------------------------------------------------------------------------------
def test_asynchronous_invocations_over_1_mb_are_refused_with_413(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function
    name = deploy_compat("lambda_limits").outputs["EchoFunctionName"]
    lam = aws.client("lambda")
    big = json.dumps({"data": "x" * 1_600_000}).encode()

    # When a 1.6 MB event is invoked asynchronously, Then Lambda refuses it, naming the size and the limit
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=big)
    error = refused.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error["Error"]["Message"] == (
        f"{len(big)} byte payload is too large for the Event invocation type (limit 1048576 bytes)"
    )
    # ...while a 900 KB one is accepted
    small = json.dumps({"data": "x" * 900_000}).encode()
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=small)["StatusCode"] == 202


def test_synchronous_requests_over_6_mb_are_refused_and_smaller_ones_run(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function
    name = deploy_compat("lambda_limits").outputs["EchoFunctionName"]

    # When a 7 MB event is invoked synchronously, Then Lambda refuses it with 413
    with pytest.raises(ClientError) as refused:
        _invoke(aws, name, {"data": "x" * 7_000_000})
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert refused.value.response["Error"]["Message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    # ...and a 5 MB event reaches the function whole
    event = {"data": "x" * 5_000_000}
    assert _invoke(aws, name, event)["Payload"] == {"received_bytes": len(json.dumps(event))}


def test_a_response_over_lambdas_limit_is_a_function_error(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function that answers with a response of the size asked for
    name = deploy_compat("lambda_limits").outputs["EchoFunctionName"]

    # When it returns 7,000,000 bytes, Then the caller gets Function.ResponseSizeTooLarge
    response = _invoke(aws, name, {"respond_bytes": 7_000_000})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"] == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    # ...while 6,200,000 bytes (under 6291556) come back whole
    ok = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"respond_bytes": 6_200_000}))
    assert "FunctionError" not in ok
    assert len(ok["Payload"].read()) == 6_200_000


def test_an_event_that_is_not_json_is_refused(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a function
    name = deploy_compat("lambda_limits").outputs["EchoFunctionName"]

    # When the payload is not JSON, Then Lambda refuses the request before invoking anything
    with pytest.raises(ClientError) as refused:
        _invoke(aws, name, b"order=1")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert refused.value.response["Error"]["Message"].startswith("Could not parse request body into json")


# --- errors ------------------------------------------------------------------------------------------------
def test_an_unhandled_exception_returns_lambdas_error_document(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function whose handler raises a custom exception two frames down
    name = deploy_compat("lambda_errors").outputs["RaisesFunctionName"]

    # When it is invoked
    response = _invoke(aws, name, {"order": "o-3"})

    # Then the payload is Lambda's error document: the class name, the message, the request id, the frames
    assert response["FunctionError"] == "Unhandled"
    payload = response["Payload"]
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (payload["errorType"], payload["errorMessage"]) == ("OrderRejected", "order o-3 has no items")
    assert re.fullmatch(_UUID, payload["requestId"])
    assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]
    assert [frame.split(", in ")[1].split("\n")[0] for frame in payload["stackTrace"]] == ["raises", "reject"]


@pytest.mark.parametrize(
    ("output", "error_type", "message"),
    [
        (
            "MissingDependencyFunctionName",
            "Runtime.ImportModuleError",
            "Unable to import module 'needs_pymysql': No module named 'pymysql'",
        ),
        (
            "HandlerNotFoundFunctionName",
            "Runtime.HandlerNotFound",
            "Handler 'no_such_handler' missing on module 'app'",
        ),
    ],
)
def test_init_errors_are_reported_as_lambdas_runtime_reports_them(
    aws: EmbeddedAws, deploy_compat: DeployCompat, output: str, error_type: str, message: str
) -> None:
    # Given a function that cannot initialise
    name = deploy_compat("lambda_errors").outputs[output]

    # When it is invoked
    response = _invoke(aws, name)

    # Then the init error comes back with Lambda's type and wording, and no request id (init has none)
    assert response["FunctionError"] == "Unhandled"
    assert response["Payload"] == {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": [],
    }


def test_responses_are_marshalled_as_lambdas_runtime_does(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given functions that return a set and Decimals
    stack = deploy_compat("lambda_errors")

    # When they are invoked
    not_json = _invoke(aws, stack.outputs["NotJsonFunctionName"])
    decimals = _invoke(aws, stack.outputs["DecimalFunctionName"])

    # Then a set is a Runtime.MarshalError, and Decimals (as DynamoDB returns numbers) are JSON numbers
    assert not_json["FunctionError"] == "Unhandled"
    assert not_json["Payload"]["errorType"] == "Runtime.MarshalError"
    assert not_json["Payload"]["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )
    assert "FunctionError" not in decimals
    assert decimals["Payload"] == {"price": 19.5, "count": 3}


def test_a_handler_that_exits_is_a_runtime_exit_error_and_the_next_call_starts_cold(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function whose handler calls sys.exit(2)
    name = deploy_compat("lambda_errors").outputs["ExitsFunctionName"]

    # When it is invoked twice
    first, second = _invoke(aws, name), _invoke(aws, name)

    # Then each is a Runtime.ExitError naming the exit status, each on a new execution environment
    for response in (first, second):
        assert response["FunctionError"] == "Unhandled"
        assert response["Payload"]["errorType"] == "Runtime.ExitError"
        assert re.fullmatch(
            rf"RequestId: {_UUID} Error: Runtime exited with error: exit status 2",
            response["Payload"]["errorMessage"],
        )
    _, stats, _ = aws.runtime.stats()[name]
    assert (stats.invocations, stats.cold_starts, stats.errors) == (2, 2, 2)


@pytest.mark.parametrize("output", ["FolderPathFunctionName", "DottedPathFunctionName"])
def test_handler_strings_may_name_a_module_by_folder_path_or_dotted_path(
    aws: EmbeddedAws, deploy_compat: DeployCompat, output: str
) -> None:
    # Given a handler in src/handlers/orders/create.py, named by folder path or by dotted module path
    name = deploy_compat("lambda_errors").outputs[output]

    # When it is invoked, Then the module is imported as a package module
    assert _invoke(aws, name)["Payload"] == {"module": "handlers.orders.create"}


def test_a_layer_the_template_builds_and_the_public_powertools_layer_are_importable(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function with a layer from a local ContentUri (code under python/) and Powertools' public layer
    stack = deploy_compat("lambda_layers")

    # When it imports from both
    response = aws.client("lambda").invoke(
        FunctionName=stack.outputs["GreeterName"], Payload=json.dumps({"name": "ada", "powertools": True})
    )
    payload = json.loads(response["Payload"].read())

    # Then the layer's python/ folder is on sys.path, as Lambda mounts it, and Powertools comes from the host
    assert "FunctionError" not in response, payload
    assert payload == {"greeting": "hello, ada, from python", "powertools": True, "layer_on_path": True}
    configuration = aws.client("lambda").get_function_configuration(FunctionName=stack.outputs["GreeterName"])
    assert [layer["Arn"] for layer in configuration["Layers"]] == [stack.outputs["LayerArn"]]
    assert stack.outputs["LayerArn"].endswith(":layer:shared-greetings:1")
