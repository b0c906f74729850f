"""embedded_aws.stepfunctions without a server: definition rules, error names, input checks, log records."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from moto.logs.models import logs_backends
from moto.stepfunctions.exceptions import InvalidExecutionInput, ValidationException
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.eval.event.logging import CloudWatchLoggingConfiguration

from embedded_aws import stepfunctions
from embedded_aws.stepfunctions import (
    PAYLOAD_LIMIT_BYTES,
    ExecutionLogSession,
    _check_input,
    express_definition,
    log_level_includes,
    validate_definition,
)

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture(autouse=True)
def _installed() -> None:
    stepfunctions.install()


def _task(error_equals: list[str]) -> str:
    return json.dumps(
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "f"},
                    "Retry": [{"ErrorEquals": error_equals}],
                    "End": True,
                }
            },
        }
    )


@pytest.mark.parametrize(
    "error_equals",
    [
        ["States.Http.Socket"],
        ["States.Timeout", "States.TaskFailed"],
        ["Lambda.ServiceException"],
        ["States.Mine"],
    ],
)
def test_error_names_aws_accepts_are_accepted(error_equals: list[str]) -> None:
    # Given a retrier naming these errors / When validated / Then nothing is found
    assert validate_definition(_task(error_equals)) == []


def test_a_fail_state_may_raise_a_states_error_name() -> None:
    # Given a Fail state raising States.TaskFailed (accepted by AWS)
    definition = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "States.TaskFailed"}}}

    # When validated, Then it is accepted
    assert validate_definition(json.dumps(definition)) == []


def test_a_known_states_error_name_is_that_error_and_others_are_custom() -> None:
    # Given the error names moto builds at run time / When built / Then States.* names keep their meaning
    assert isinstance(CustomErrorName("States.Timeout"), StatesErrorName)
    custom = CustomErrorName("States.Http.Socket")
    assert type(custom) is CustomErrorName and custom.error_name == "States.Http.Socket"
    assert CustomErrorName("OrderRejected").error_name == "OrderRejected"


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}},
            [
                "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next",
                "MISSING_END_STATE: Workflow has no terminal state",
            ],
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}},
            ["MISSING_END_STATE: Workflow has no terminal state"],
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}},
            ['MISSING_TRANSITION_TARGET: State "B" is not reachable. at /States/B'],
        ),
        (
            {"States": {"A": {"Type": "Succeed"}}},
            ["SCHEMA_VALIDATION_FAILED: These fields are required: [StartAt] at /"],
        ),
        (
            {
                "StartAt": "P",
                "States": {
                    "P": {
                        "Type": "Parallel",
                        "End": True,
                        "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}],
                    }
                },
            },
            [
                "MISSING_TRANSITION_TARGET: Missing 'Next' target: Y at /States/P/Branches[0]/States/X/Next",
                "MISSING_END_STATE: Workflow has no terminal state",
            ],
        ),
    ],
)
def test_definitions_aws_refuses_are_reported_in_aws_words(
    definition: dict[str, Any], expected: list[str]
) -> None:
    # Given a definition AWS refuses / When validated / Then the findings read as AWS's
    assert [d.text() for d in validate_definition(json.dumps(definition))] == expected


def test_json_that_does_not_parse_is_an_invalid_json_description() -> None:
    # Given broken JSON / When validated / Then AWS's code
    assert [d.code for d in validate_definition("{nope")] == ["INVALID_JSON_DESCRIPTION"]


def test_express_machines_refuse_wait_for_task_token() -> None:
    # Given a callback task, valid for STANDARD
    definition = json.dumps(
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
    )

    # When validated for each type / Then only EXPRESS refuses it
    assert validate_definition(definition, "STANDARD") == []
    assert [d.code for d in validate_definition(definition, "EXPRESS")] == ["SCHEMA_VALIDATION_FAILED"]


def test_execution_input_limits() -> None:
    # Given inputs at, over and outside the rules / When checked / Then AWS's errors
    at_limit = json.dumps("x" * (PAYLOAD_LIMIT_BYTES - 2))
    assert _check_input(at_limit) == at_limit
    assert _check_input(None) == "{}"
    with pytest.raises(ValidationException):
        _check_input(json.dumps("é" * (PAYLOAD_LIMIT_BYTES // 2)))  # counted in UTF-8 bytes
    with pytest.raises(InvalidExecutionInput):
        _check_input("{not json")


def test_log_levels_follow_aws() -> None:
    # Given AWS's log levels / When asked about event types / Then ERROR keeps failures, FATAL only the end
    assert log_level_includes("ALL", "PassStateEntered")
    assert log_level_includes("ERROR", "LambdaFunctionFailed")
    assert not log_level_includes("ERROR", "ExecutionSucceeded")
    assert log_level_includes("FATAL", "ExecutionFailed")
    assert not log_level_includes("FATAL", "TaskFailed")
    assert not log_level_includes("OFF", "ExecutionFailed")


def test_a_log_record_is_written_in_step_functions_vended_log_format() -> None:
    # Given a log group and a logging session for one execution
    group = "/aws/vendedlogs/states/unit"
    backend = logs_backends[ACCOUNT][REGION]
    backend.groups.pop(group, None)
    backend.create_log_group(group, {})
    configuration = CloudWatchLoggingConfiguration(
        state_machine_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:M",
        log_account_id=ACCOUNT,
        log_region=REGION,
        log_group_name=group,
        log_level="ALL",
        include_execution_data=True,
    )
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:express:M:run:1"
    session = ExecutionLogSession(arn, configuration, "M")

    # When an event is published
    moment = datetime.datetime.now(datetime.UTC).replace(microsecond=678000)  # CloudWatch drops old events
    millis = str(int(moment.timestamp() * 1000))
    session.publish_history_log(
        {
            "id": "2",
            "previous_event_id": "1",
            "event_timestamp": moment,
            "type": "PassStateEntered",
            "execution_arn": arn,
            "details": {"name": "P", "input": "{}", "inputDetails": {"truncated": False}},
        }
    )

    # Then one JSON line lands in a states/ stream, with AWS's field names and an epoch-ms timestamp
    (stream,) = backend.groups[group].streams.values()
    assert stream.log_stream_name.startswith("states/M/2")
    (event,) = stream.events
    assert json.loads(event.message) == {
        "id": "2",
        "type": "PassStateEntered",
        "details": {"name": "P", "input": "{}", "inputDetails": {"truncated": False}},
        "previous_event_id": "1",
        "event_timestamp": millis,
        "execution_arn": arn,
        "redrive_count": "0",
    }
    assert event.timestamp == int(millis)


def test_an_express_execution_times_out_after_five_minutes_at_most() -> None:
    # Given definitions with no timeout, a longer one and a shorter one
    def timeout(definition: dict[str, Any]) -> int:
        return int(json.loads(express_definition(json.dumps(definition)))["TimeoutSeconds"])

    machine: dict[str, Any] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}

    # When run as EXPRESS / Then AWS's five-minute cap applies, and a shorter timeout stays
    assert timeout(machine) == 300
    assert timeout({**machine, "TimeoutSeconds": 3600}) == 300
    assert timeout({**machine, "TimeoutSeconds": 30}) == 30


def test_an_update_is_validated_for_the_machine_type() -> None:
    # Given an EXPRESS state machine in moto's executing backend
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[ACCOUNT][REGION]
    simple = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machine = backend.create_state_machine(
        "unit-express", simple, f"arn:aws:iam::{ACCOUNT}:role/r", sm_type="EXPRESS"
    )
    callback = json.dumps(
        {
            "StartAt": "T",
            "States": {
                "T": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        }
    )

    # When it is updated to a callback task (which Express does not support)
    with pytest.raises(stepfunctions.InvalidDefinition) as refused:
        backend.update_state_machine(arn=machine.arn, definition=callback)

    # Then the update is refused in AWS's words, and the machine keeps its definition
    assert str(refused.value.message).startswith(
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED:"
    )
    assert backend.describe_state_machine(machine.arn).definition == simple
    backend.delete_state_machine(machine.arn)
