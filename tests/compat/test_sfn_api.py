"""The Step Functions API as AWS documents it: StartSyncExecution, execution names and ARNs, execution
history, ListExecutions, CloudWatch Logs logging, definition validation and the payload limit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.errors import DeployError
from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat

ROLE_ARN = "arn:aws:iam::123456789012:role/StatesExecutionRole"


def _sync_client(aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A Step Functions client for StartSyncExecution/TestState against http://127.0.0.1:PORT.

    boto3 and the AWS CLI send these two actions to `sync-<endpoint host>`, which does not resolve for an IP
    address: a user sets AWS_DISABLE_HOST_PREFIX_INJECTION=true (or Config(inject_host_prefix=False)).
    """
    monkeypatch.setenv("AWS_DISABLE_HOST_PREFIX_INJECTION", "true")
    return aws.client("stepfunctions")


def _finished(aws: EmbeddedAws, execution_arn: str) -> dict[str, Any]:
    sfn = aws.client("stepfunctions")

    def done() -> dict[str, Any] | None:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return None if description["status"] == "RUNNING" else description

    result: dict[str, Any] | None = poll_until(done, timeout_s=60, interval_s=0.1)
    assert result is not None, f"{execution_arn} still running after 60 s"
    return result


def _log_records(aws: EmbeddedAws, group: str, execution_arn: str, last_type: str) -> list[dict[str, Any]]:
    """The JSON log records of one execution, once the one of type `last_type` has arrived."""
    logs = aws.client("logs")

    def records() -> list[dict[str, Any]]:
        events = logs.filter_log_events(logGroupName=group)["events"]
        found = [json.loads(e["message"]) for e in events]
        mine = [r for r in found if r["execution_arn"] == execution_arn]
        return mine if any(r["type"] == last_type for r in mine) else []

    found: list[dict[str, Any]] = poll_until(records, timeout_s=30)
    assert found, f"no {last_type} logged for {execution_arn} in {group}"
    return sorted(found, key=lambda r: int(r["id"]))


def _error(call: Any) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    return {
        "Code": str(caught.value.response["Error"].get("Code")),
        "Message": str(caught.value.response["Error"].get("Message")),
    }


# --- StartSyncExecution and logging ---------------------------------------------------------------------
def test_start_sync_execution_answers_the_result_of_an_express_workflow(
    aws: EmbeddedAws, deploy_compat: DeployCompat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an Express workflow calling a Lambda function
    stack = deploy_compat("sfn_api_express_sync")
    sfn = _sync_client(aws, monkeypatch)
    machine = stack.outputs["GreetingStateMachineArn"]

    # When it is run synchronously, once with good input and once with input the function refuses
    ok = sfn.start_sync_execution(stateMachineArn=machine, name="greet-ada", input='{"name": "Ada"}')
    failed = sfn.start_sync_execution(stateMachineArn=machine, input="{}")

    # Then the call returns when the execution ends, with its outcome, as AWS answers it
    assert ok["status"] == "SUCCEEDED"
    assert json.loads(ok["output"]) == {"greeting": "Hello, Ada!"}
    assert ok["name"] == "greet-ada"
    assert ok["stateMachineArn"] == machine
    assert ok["executionArn"].startswith(machine.replace(":stateMachine:", ":express:") + ":greet-ada:")
    assert ok["stopDate"] >= ok["startDate"]
    assert ok["billingDetails"]["billedMemoryUsedInMB"] >= 64
    assert ok["billingDetails"]["billedDurationInMilliseconds"] % 100 == 0
    # ...and a Lambda error fails it with the exception's class name, no output
    assert failed["status"] == "FAILED"
    assert failed["error"] == "MissingName"
    assert json.loads(failed["cause"])["errorMessage"] == "The input has no 'name' to greet"
    assert "output" not in failed


def test_start_sync_execution_refuses_a_standard_workflow(
    aws: EmbeddedAws, deploy_compat: DeployCompat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a STANDARD workflow
    stack = deploy_compat("sfn_api_express_sync")
    sfn = _sync_client(aws, monkeypatch)

    # When it is started synchronously
    error = _error(lambda: sfn.start_sync_execution(stateMachineArn=stack.outputs["StandardStateMachineArn"]))

    # Then Step Functions refuses, as AWS does
    assert error["Code"] == "StateMachineTypeNotSupported"


def test_express_execution_history_goes_to_its_log_group_in_aws_log_format(
    aws: EmbeddedAws, deploy_compat: DeployCompat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an Express workflow logging ALL events with execution data to a log group
    stack = deploy_compat("sfn_api_express_sync")
    sfn = _sync_client(aws, monkeypatch)

    # When it runs
    run = sfn.start_sync_execution(
        stateMachineArn=stack.outputs["GreetingStateMachineArn"], input='{"name": "Grace"}'
    )

    # Then its events are in the log group, one JSON object per event, as Step Functions writes them
    records = _log_records(
        aws, stack.outputs["ExpressLogGroupName"], run["executionArn"], "ExecutionSucceeded"
    )
    assert [r["type"] for r in records] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert [r["id"] for r in records] == [str(n) for n in range(1, len(records) + 1)]
    for record in records:
        assert set(record) >= {
            "id",
            "type",
            "details",
            "previous_event_id",
            "event_timestamp",
            "execution_arn",
        }
        assert record["event_timestamp"].isdigit()  # epoch milliseconds, as a string
    assert json.loads(records[0]["details"]["input"]) == {"name": "Grace"}  # IncludeExecutionData: true
    assert json.loads(records[-1]["details"]["output"]) == {"greeting": "Hello, Grace!"}
    streams = aws.client("logs").describe_log_streams(logGroupName=stack.outputs["ExpressLogGroupName"])
    assert all(s["logStreamName"].startswith("states/") for s in streams["logStreams"])


def test_logging_level_error_without_execution_data_logs_only_failures_and_no_payloads(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given an Express workflow logging at level ERROR, IncludeExecutionData false
    stack = deploy_compat("sfn_api_express_sync")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["ErrorsOnlyStateMachineArn"]

    # When one execution succeeds and one fails (asynchronous starts)
    good = sfn.start_execution(stateMachineArn=machine, input='{"name": "Linus"}')["executionArn"]
    bad = sfn.start_execution(stateMachineArn=machine, input='{"secret": "s3cr3t"}')["executionArn"]

    # Then only the failure's error events are logged, without the execution's data
    group = stack.outputs["ErrorsLogGroupName"]
    records = _log_records(aws, group, bad, "ExecutionFailed")
    assert [r["type"] for r in records] == ["TaskFailed", "ExecutionFailed"]
    assert records[-1]["details"]["error"] == "MissingName"
    assert "s3cr3t" not in json.dumps(records)
    events = aws.client("logs").filter_log_events(logGroupName=group)["events"]
    assert not [e for e in events if good in e["message"]]


def test_express_executions_are_not_idempotent_by_name_and_cannot_be_described_or_listed(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given an Express workflow
    stack = deploy_compat("sfn_api_express_sync")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["GreetingStateMachineArn"]

    # When it is started twice with the same name
    first = sfn.start_execution(stateMachineArn=machine, name="same", input='{"name": "A"}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine, name="same", input='{"name": "B"}')["executionArn"]

    # Then each start is a new execution with an express ARN (AWS: idempotency is not managed)
    assert first != second
    assert all(":express:" in arn and ":same:" in arn for arn in (first, second))
    # ...and, as on AWS, Express executions are read from CloudWatch Logs, not from the API
    assert _error(lambda: sfn.describe_execution(executionArn=first)) == {
        "Code": "InvalidArn",
        "Message": "Invalid Arn: 'Resource type not valid in this context: express'",
    }
    assert _error(lambda: sfn.get_execution_history(executionArn=first))["Code"] == "InvalidArn"
    assert (
        _error(lambda: sfn.list_executions(stateMachineArn=machine))["Code"] == "StateMachineTypeNotSupported"
    )
    records = _log_records(aws, stack.outputs["ExpressLogGroupName"], second, "ExecutionSucceeded")
    assert json.loads(records[-1]["details"]["output"]) == {"greeting": "Hello, B!"}


# --- STANDARD executions: names, history, listing --------------------------------------------------------
def test_unnamed_standard_executions_get_uuid_names_and_a_full_history(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a STANDARD workflow with a Lambda task, a Choice and a Fail state
    stack = deploy_compat("sfn_api_standard_history")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["OrderStateMachineArn"]

    # When it is started twice without a name
    first = sfn.start_execution(stateMachineArn=machine, input='{"orderId": "o-1", "total": 20}')
    second = sfn.start_execution(stateMachineArn=machine, input='{"orderId": "o-2", "total": 500}')

    # Then each execution is named with a UUID, as AWS names it
    names = [arn.rsplit(":", 1)[1] for arn in (first["executionArn"], second["executionArn"])]
    assert names[0] != names[1]
    assert all(len(name) == 36 and name.count("-") == 4 for name in names)
    approved, rejected = _finished(aws, first["executionArn"]), _finished(aws, second["executionArn"])
    assert approved["status"] == "SUCCEEDED"
    assert json.loads(approved["output"]) == {"orderId": "o-1", "status": "approved"}
    assert (rejected["status"], rejected["error"]) == ("FAILED", "OrderRejected")
    assert rejected["cause"] == "The order total is over the limit"
    assert "output" not in rejected

    # ...and the history has AWS's event types, each linked to the one before
    events = sfn.get_execution_history(executionArn=first["executionArn"])["events"]
    assert [e["type"] for e in events] == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)
    failed = sfn.get_execution_history(executionArn=second["executionArn"])["events"]
    assert [e["type"] for e in failed][-2:] == ["FailStateEntered", "ExecutionFailed"]
    assert failed[-1]["executionFailedEventDetails"] == {
        "error": "OrderRejected",
        "cause": "The order total is over the limit",
    }


def test_get_execution_history_pages_reverses_and_leaves_out_data(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a finished STANDARD execution
    stack = deploy_compat("sfn_api_standard_history")
    sfn = aws.client("stepfunctions")
    run = sfn.start_execution(
        stateMachineArn=stack.outputs["OrderStateMachineArn"], input='{"orderId": "o-3", "total": 1}'
    )["executionArn"]
    _finished(aws, run)
    everything = sfn.get_execution_history(executionArn=run)["events"]

    # When its history is read in pages of 4, newest first, without execution data
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=run, reverseOrder=True, includeExecutionData=False, PaginationConfig={"PageSize": 4}
    )
    read = [event for page in pages for event in page["events"]]

    # Then every event comes back once, in reverse order, with no input or output
    assert [e["id"] for e in read] == [e["id"] for e in reversed(everything)]
    assert "o-3" not in json.dumps(read, default=str)


def test_list_executions_filters_by_status_and_refuses_an_unknown_status(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given one approved and one rejected order
    stack = deploy_compat("sfn_api_standard_history")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["OrderStateMachineArn"]
    good = sfn.start_execution(stateMachineArn=machine, name="good", input='{"orderId": "g", "total": 1}')
    bad = sfn.start_execution(stateMachineArn=machine, name="bad", input='{"orderId": "b", "total": 999}')
    for run in (good, bad):
        _finished(aws, run["executionArn"])

    # When executions are listed, all and by status
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    failed = sfn.list_executions(stateMachineArn=machine, statusFilter="FAILED")["executions"]

    # Then the newest comes first, and the filter keeps only its status
    assert [e["name"] for e in listed] == ["bad", "good"]
    assert all(e["stopDate"] >= e["startDate"] for e in listed)
    assert [(e["name"], e["status"]) for e in failed] == [("bad", "FAILED")]
    error = _error(lambda: sfn.list_executions(stateMachineArn=machine, statusFilter="DONE"))
    assert error["Code"] == "ValidationException"
    assert "at 'statusFilter' failed to satisfy constraint" in error["Message"]


def test_a_standard_execution_name_is_used_once(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a finished STANDARD execution named "order-9"
    stack = deploy_compat("sfn_api_standard_history")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["OrderStateMachineArn"]
    payload = '{"orderId": "o-9", "total": 5}'
    run = sfn.start_execution(stateMachineArn=machine, name="order-9", input=payload)["executionArn"]
    _finished(aws, run)

    # When the same name is started again, with the same input
    error = _error(lambda: sfn.start_execution(stateMachineArn=machine, name="order-9", input=payload))

    # Then AWS's answer for a closed execution: ExecutionAlreadyExists
    assert error["Code"] == "ExecutionAlreadyExists"


def test_execution_input_is_checked_for_json_and_the_256_kib_quota(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a STANDARD workflow
    stack = deploy_compat("sfn_api_standard_history")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["OrderStateMachineArn"]

    # When it is started with input that is not JSON, and with input over 256 KiB
    not_json = _error(lambda: sfn.start_execution(stateMachineArn=machine, input="{oops"))
    too_big = _error(
        lambda: sfn.start_execution(stateMachineArn=machine, input=json.dumps({"blob": "x" * 262_144}))
    )

    # Then both are refused before anything runs
    assert not_json["Code"] == "InvalidExecutionInput"
    assert too_big["Code"] == "ValidationException"
    assert "262144" in too_big["Message"]
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []


# --- definitions ------------------------------------------------------------------------------------------
def test_definitions_with_the_error_names_aws_accepts_deploy_and_run(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a workflow using States.Http.Socket, a Fail raising States.TaskFailed in a Parallel branch and
    # a custom error named "States.InputRejected" (all accepted by AWS)
    stack = deploy_compat("sfn_api_definitions")
    sfn = aws.client("stepfunctions")
    machine = stack.outputs["ProcessStateMachineArn"]

    # When it runs a complete input, an incomplete one and an invalid one
    complete = sfn.start_execution(stateMachineArn=machine, input='{"complete": true}')["executionArn"]
    incomplete = sfn.start_execution(stateMachineArn=machine, input='{"complete": false}')["executionArn"]
    invalid = sfn.start_execution(stateMachineArn=machine, input='{"invalid": true}')["executionArn"]

    # Then each ends as AWS would run it
    assert json.loads(_finished(aws, complete)["output"]) == {"complete": True, "processed": True}
    caught = json.loads(_finished(aws, incomplete)["output"])
    assert caught["outcome"] == "incomplete"
    assert caught["error"] == {"Error": "States.TaskFailed", "Cause": "The input is not complete"}
    rejected = _finished(aws, invalid)
    assert (rejected["status"], rejected["error"], rejected["cause"]) == (
        "FAILED",
        "States.InputRejected",
        "The input was rejected",
    )


def test_a_definition_aws_refuses_answers_invalid_definition_in_aws_words(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a definition whose Catch goes to a state that does not exist
    sfn = aws.client("stepfunctions")
    definition = json.dumps(
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}, "B": {"Type": "Succeed"}}}
    )

    # When it is created through the API, validated, and deployed through CloudFormation
    error = _error(lambda: sfn.create_state_machine(name="broken", definition=definition, roleArn=ROLE_ARN))
    validation = sfn.validate_state_machine_definition(definition=definition)
    with pytest.raises(DeployError) as refused:
        deploy_compat("sfn_api_definitions", {"RejectedState": "Nowhere"})

    # Then each answers as AWS does
    assert error["Code"] == "InvalidDefinition"
    assert error["Message"] == (
        "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: Nowhere "
        "at /States/A/Next'"
    )
    assert validation["result"] == "FAIL"
    assert validation["diagnostics"][0]["code"] == "MISSING_TRANSITION_TARGET"
    assert "InvalidDefinition" in str(refused.value) and "Nowhere" in str(refused.value)


def test_actions_the_embedded_aws_does_not_run_answer_not_implemented(
    aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the Step Functions API
    sfn = _sync_client(aws, monkeypatch)
    definition = json.dumps({"Type": "Pass", "End": True})
    arn = "arn:aws:states:us-east-1:123456789012:execution:m:e"

    # When actions the embedded AWS does not run are called
    test_state = _error(lambda: sfn.test_state(definition=definition, roleArn=ROLE_ARN, input="{}"))
    redrive = _error(lambda: sfn.redrive_execution(executionArn=arn))

    # Then each answers an AWS-shaped error naming the action
    assert test_state["Code"] == redrive["Code"] == "NotImplemented"
    assert "states:TestState" in test_state["Message"] and "states:RedriveExecution" in redrive["Message"]


def test_a_state_result_over_256_kib_fails_the_execution_with_data_limit_exceeded(
    aws: EmbeddedAws, deploy_compat: DeployCompat, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an Express workflow whose Lambda function can return a large result
    stack = deploy_compat("sfn_api_express_sync")
    sfn = _sync_client(aws, monkeypatch)

    # When the function returns about 300 KiB
    run = sfn.start_sync_execution(
        stateMachineArn=stack.outputs["GreetingStateMachineArn"], input='{"name": "Big", "times": 25000}'
    )

    # Then the execution fails as AWS fails it
    assert (run["status"], run["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert run["cause"].startswith("The state/task '")
    assert run["cause"].endswith(
        "returned a result with a size exceeding the maximum number of bytes service limit."
    )
