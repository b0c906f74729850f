"""Step Functions state semantics as AWS runs them: Lambda tasks and their errors, task tokens, Map and
Parallel, SDK integrations, the context object, intrinsic functions and JSONata."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.stack import EmbeddedAws, poll_until
from tests.compat.conftest import DeployCompat
from tests.compat.conftest import finished_execution as _finished
from tests.compat.conftest import run_execution as _run
from tests.compat.conftest import start_execution as _start

ISO_MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _output(execution: dict[str, Any]) -> Any:
    assert execution["status"] == "SUCCEEDED", execution
    return json.loads(execution["output"])


def _history(aws: EmbeddedAws, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = aws.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return events


# --- Lambda tasks ---------------------------------------------------------------------------------
def test_lambda_invoke_result_wraps_the_payload_with_the_sdk_metadata(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a lambda:invoke task without OutputPath
    stack = deploy_compat("sfn_lambda_errors")

    # When the function returns
    output = _output(_run(aws, stack.outputs["PaymentStateMachineArn"], {"order": {"id": "o-1"}}))

    # Then the result is Lambda's Invoke response as Step Functions' SDK sees it
    assert output["Payload"] == {"order_id": "o-1", "status": "charged", "attempt": 0}
    assert output["ExecutedVersion"] == "$LATEST"
    assert output["StatusCode"] == 200
    assert output["SdkHttpMetadata"]["HttpStatusCode"] == 200
    assert output["SdkHttpMetadata"]["HttpHeaders"]["X-Amz-Executed-Version"] == "$LATEST"
    assert output["SdkResponseMetadata"]["RequestId"]


def test_retry_matches_the_functions_exception_class(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a Retry on GatewayBusy (IntervalSeconds 1, BackoffRate, MaxDelaySeconds, JitterStrategy FULL)
    stack = deploy_compat("sfn_lambda_errors")

    # When the function raises GatewayBusy twice, then succeeds
    execution_arn = _start(
        aws, stack.outputs["PaymentStateMachineArn"], {"order": {"id": "o-2", "busy_times": 2}}
    )
    output = _output(_finished(aws, execution_arn))

    # Then the third attempt's result is the output, and $$.State.RetryCount counted the retries
    assert output["Payload"]["attempt"] == 2
    failures = [
        e["taskFailedEventDetails"] for e in _history(aws, execution_arn) if e["type"] == "TaskFailed"
    ]
    assert [f["error"] for f in failures] == ["GatewayBusy", "GatewayBusy"]
    assert json.loads(failures[0]["cause"])["errorMessage"] == "Gateway busy on attempt 0"


def test_catch_gives_the_exception_class_and_lambdas_error_json(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a Catch on PaymentDeclined with ResultPath $.error
    stack = deploy_compat("sfn_lambda_errors")

    # When the function raises PaymentDeclined
    output = _output(
        _run(aws, stack.outputs["PaymentStateMachineArn"], {"order": {"id": "o-3", "card": "declined"}})
    )

    # Then Error is the class name and Cause is Lambda's error document, in Lambda's field order
    assert output["outcome"] == "declined"
    assert output["error"] == "PaymentDeclined"
    cause = output["cause"]
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorType"] == "PaymentDeclined"
    assert cause["errorMessage"] == "Card for order o-3 was declined"
    assert any("raise PaymentDeclined" in line for line in cause["stackTrace"])


def test_states_task_failed_catches_any_other_function_error(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a Catch on States.TaskFailed after the named ones (and a zero-attempt States.ALL retrier)
    stack = deploy_compat("sfn_lambda_errors")

    # When the function raises a KeyError
    output = _output(
        _run(aws, stack.outputs["PaymentStateMachineArn"], {"order": {"id": "o-4", "card": "broken"}})
    )

    # Then the catch-all receives it under its class name
    assert output == {"outcome": "broken", "error": "KeyError"}


def test_a_function_arn_task_fails_the_execution_with_the_exception_class(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a Task whose Resource is the function's ARN, without Catch
    stack = deploy_compat("sfn_lambda_errors")

    # When the function raises PaymentDeclined
    execution = _run(
        aws, stack.outputs["DirectStateMachineArn"], {"order": {"id": "o-5", "card": "declined"}}
    )

    # Then the execution fails with the class name, the cause being Lambda's error JSON
    assert execution["status"] == "FAILED"
    assert execution["error"] == "PaymentDeclined"
    assert json.loads(execution["cause"])["errorMessage"] == "Card for order o-5 was declined"


def test_a_task_result_over_256_kib_fails_with_data_limit_exceeded(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a function that returns 300 KiB
    stack = deploy_compat("sfn_lambda_errors")

    # When a task receives it
    execution = _run(aws, stack.outputs["OversizedStateMachineArn"], {})

    # Then the state fails with States.DataLimitExceeded, as Step Functions' 256 KiB quota demands
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.DataLimitExceeded"


# --- task tokens ----------------------------------------------------------------------------------
def _token_message(aws: EmbeddedAws, queue_url: str) -> dict[str, Any]:
    sqs = aws.client("sqs")

    def received() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
            "Messages", []
        )
        return messages

    messages = poll_until(received, timeout_s=30)
    assert messages, "no task token reached the queue"
    body: dict[str, Any] = json.loads(messages[0]["Body"])
    return body


def test_a_task_token_sent_through_sqs_completes_with_send_task_success(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a workflow waiting on sqs:sendMessage.waitForTaskToken
    stack = deploy_compat("sfn_task_token")
    sfn = aws.client("stepfunctions")
    execution_arn = _start(aws, stack.outputs["ApprovalStateMachineArn"], {"invoice": 42})

    # When a person reads the token from the queue, sends a heartbeat, then approves
    body = _token_message(aws, stack.outputs["ApprovalQueueUrl"])
    assert body["request"] == {"invoice": 42}
    assert body["execution"] == execution_arn.rsplit(":", 1)[-1]
    sfn.send_task_heartbeat(taskToken=body["token"])
    sfn.send_task_success(taskToken=body["token"], output=json.dumps({"approved_by": "ana"}))

    # Then the task's result is the output sent
    assert _output(_finished(aws, execution_arn)) == {"invoice": 42, "approval": {"approved_by": "ana"}}


def test_send_task_failure_is_caught_by_its_error_name_with_its_cause(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a workflow waiting for approval, with a Catch on Rejected
    stack = deploy_compat("sfn_task_token")
    execution_arn = _start(aws, stack.outputs["ApprovalStateMachineArn"], {"invoice": 7})

    # When the approver rejects it
    body = _token_message(aws, stack.outputs["ApprovalQueueUrl"])
    aws.client("stepfunctions").send_task_failure(
        taskToken=body["token"], error="Rejected", cause="over budget"
    )

    # Then the Catch receives the error and cause that were sent
    output = _output(_finished(aws, execution_arn))
    assert output["rejection"] == {"Error": "Rejected", "Cause": "over budget"}


def test_a_token_nobody_issued_is_an_invalid_token(aws: EmbeddedAws) -> None:
    # Given no task waits for this token
    sfn = aws.client("stepfunctions")

    # When it is used, Then Step Functions answers InvalidToken
    calls: list[Callable[[], object]] = [
        lambda: sfn.send_task_success(taskToken="not-a-token", output="{}"),
        lambda: sfn.send_task_failure(taskToken="not-a-token", error="E"),
        lambda: sfn.send_task_heartbeat(taskToken="not-a-token"),
    ]
    for call in calls:
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "InvalidToken"


def test_a_missed_heartbeat_fails_with_states_heartbeat_timeout(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a task with HeartbeatSeconds 1
    stack = deploy_compat("sfn_task_token")

    # When nobody sends a heartbeat
    execution = _run(aws, stack.outputs["ImpatientStateMachineArn"], {})

    # Then the task times out as States.HeartbeatTimeout (not States.Timeout)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "States.HeartbeatTimeout"


def test_a_lambda_completes_its_own_task_token(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given lambda:invoke.waitForTaskToken with a function that reports through the token
    stack = deploy_compat("sfn_task_token")
    arn = stack.outputs["CallbackStateMachineArn"]

    # When the function sends success, and in another execution failure
    succeeded = _run(aws, arn, {"job": {"id": 7}})
    failed = _run(aws, arn, {"job": {"id": 8, "fail": True}})

    # Then the first ends with the output sent, the second with the error and cause sent
    assert _output(succeeded) == {"job": 7, "done": True}
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "JobFailed", "job 8 failed")


# --- Map and Parallel -----------------------------------------------------------------------------
def test_an_inline_map_selects_items_with_the_map_context(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given an inline Map with ItemsPath, ItemSelector ($$.Map.Item.Index/Value) and MaxConcurrency 2
    stack = deploy_compat("sfn_map_parallel")
    order = {"currency": "EUR", "lines": [{"sku": "apple", "qty": 2}, {"sku": "pear", "qty": 1}]}

    # When it runs
    output = _output(_run(aws, stack.outputs["InlineMapStateMachineArn"], {"order": order}))

    # Then each iteration saw its index, its item and the state input, and results keep the items' order
    assert output["priced"] == [
        {"index": 0, "sku": "apple", "total": 60, "currency": "EUR"},
        {"index": 1, "sku": "pear", "total": 45, "currency": "EUR"},
    ]


def test_a_distributed_map_batches_items_and_tolerates_failures(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a distributed Map (EXPRESS children) batching 2 items with BatchInput, tolerating 40 % failures
    stack = deploy_compat("sfn_map_parallel")
    arn = stack.outputs["DistributedMapStateMachineArn"]
    records = [{"id": n} for n in range(1, 6)]

    # When one item of five fails (its batch of one fails: 20 %)
    records[4]["bad"] = True
    output = _output(_run(aws, arn, {"source": "feed", "records": records}))

    # Then each child received {Items, BatchInput}, and the failed child's error stands in its place
    assert output[:2] == [{"source": "feed", "ids": [1, 2]}, {"source": "feed", "ids": [3, 4]}]
    assert output[2]["Error"] == "BadRecord"

    # When three of five items fail (two batches: 60 %)
    records[0]["bad"] = True
    failure = _output(_run(aws, arn, {"source": "feed", "records": records}))["failure"]

    # Then the Map fails with States.ExceedToleratedFailureThreshold, which its Catch receives
    assert failure["Error"] == "States.ExceedToleratedFailureThreshold"


def test_parallel_catches_inside_a_branch_and_on_the_state(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a Parallel state: branch 1 catches UnknownSku itself, branch 2 may fail; the state catches that
    stack = deploy_compat("sfn_map_parallel")
    arn = stack.outputs["ParallelStateMachineArn"]

    # When both branches succeed, Then the result is the array of branch outputs, in branch order
    ok = _output(_run(aws, arn, {"lines": [{"sku": "plum", "qty": 3}], "fail_branch": False}))
    assert ok == [{"index": 0, "sku": "plum", "total": 60, "currency": "EUR"}, "checked"]

    # When branch 1's task fails with a caught error, Then its Catch's output takes the branch's place
    caught = _output(_run(aws, arn, {"lines": [{"sku": "kiwi", "qty": 1}], "fail_branch": False}))
    assert caught == [{"unpriced": "UnknownSku"}, "checked"]

    # When branch 2 fails, Then the Parallel state fails with the branch's error, caught on the state
    recovered = _output(_run(aws, arn, {"lines": [{"sku": "plum", "qty": 1}], "fail_branch": True}))
    assert recovered["error"] == {"Error": "InventoryUnavailable", "Cause": "The warehouse did not answer"}


# --- SDK integrations -----------------------------------------------------------------------------
def test_dynamodb_s3_sns_sqs_and_eventbridge_integrations_take_what_aws_takes(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a workflow writing an item in DynamoDB JSON (S, N, BOOL, NULL, B, SS, M, L) and calling S3/SNS/SQS
    stack = deploy_compat("sfn_sdk_dynamodb")
    avatar = base64.b64encode(b"\x89PNG\r\n").decode()
    profile = {
        "userId": "u-1",
        "name": "Ann",
        "avatarBase64": avatar,
        "tags": ["admin", "beta"],
        "city": "Lyon",
        "zip": 69001,
    }

    # When it runs
    output = _output(_run(aws, stack.outputs["ProfileStateMachineArn"], profile))

    # Then every call succeeded with the results AWS returns
    assert output["updated"] == {"visits": "2", "avatar": avatar}
    item = output["loaded"]["Item"]
    assert item["verified"] == {"BOOL": True}
    assert item["nickname"] == {"NULL": True}
    assert sorted(item["tags"]["SS"]) == ["admin", "beta"]
    assert item["address"] == {"M": {"city": {"S": "Lyon"}, "zip": {"N": "69001"}}}
    assert item["history"] == {"L": [{"S": "created"}, {"N": "0"}]}
    assert output["readBack"] == {"body": item, "contentType": "application/json"}
    assert output["missing"]["Error"] == "S3.NoSuchKeyException"
    assert output["published"]["MessageId"]
    assert output["sent"]["MessageId"]
    assert output["emitted"]["FailedEntryCount"] == 0
    assert output["deleted"] == {"deletedName": "Ann"}
    # And the binary attribute was stored as bytes (DynamoDB JSON carries B as base64)
    archived = aws.client("s3").get_object(Bucket=stack.outputs["BucketName"], Key="profiles/u-1.json")
    assert json.loads(archived["Body"].read())["avatar"] == {"B": avatar}
    message = aws.client("sqs").receive_message(QueueUrl=stack.outputs["QueueUrl"])["Messages"][0]
    assert json.loads(message["Body"]) == {"userId": "u-1"}


def test_a_failed_condition_is_dynamodb_conditional_check_failed_exception(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given the profile already exists
    stack = deploy_compat("sfn_sdk_dynamodb")
    aws.client("dynamodb").put_item(TableName=stack.outputs["TableName"], Item={"pk": {"S": "u-2"}})

    # When the workflow's conditional putItem runs
    execution = _run(
        aws,
        stack.outputs["ProfileStateMachineArn"],
        {"userId": "u-2", "name": "Bo", "avatarBase64": "", "tags": ["x"], "city": "Oslo", "zip": 150},
    )

    # Then the Catch on DynamoDB.ConditionalCheckFailedException routed it, with DynamoDB's message as cause
    assert execution["status"] == "FAILED"
    assert execution["error"] == "DuplicateProfile"
    assert execution["cause"].startswith("The conditional request failed")


def test_sending_to_a_missing_queue_is_sqs_queue_does_not_exist_exception(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a queue URL nothing answers to
    stack = deploy_compat("sfn_sdk_dynamodb")
    missing = stack.outputs["QueueUrl"] + "-missing"

    # When sqs:sendMessage targets it
    execution = _run(aws, stack.outputs["MissingQueueStateMachineArn"], {"queueUrl": missing})

    # Then the task fails with SQS's error name
    assert execution["status"] == "FAILED"
    assert execution["error"] == "SQS.QueueDoesNotExistException"


# --- context object, intrinsics, JSONata ----------------------------------------------------------
def test_the_context_object_and_intrinsic_functions(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a workflow reading $$, calling every intrinsic function, waiting by SecondsPath/TimestampPath
    stack = deploy_compat("sfn_context_intrinsics")
    arn = stack.outputs["IntrinsicsStateMachineArn"]
    payload = {
        "name": "Ann",
        "count": 3,
        "settingsJson": '{"theme":"dark"}',
        "settings": {"theme": "dark", "size": 1},
        "overrides": {"size": 2},
        "numbers": [1, 2, 3, 4, 5],
        "repeated": [1, 1, 2],
        "sentence": "a b c",
        "waitSeconds": 1,
        "notBefore": (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    # When it runs
    execution_arn = _start(aws, arn, payload)
    output = _output(_finished(aws, execution_arn))

    # Then the context object holds the execution, state and state machine as AWS writes them
    context = output["context"]
    assert context["executionId"] == execution_arn
    assert context["executionName"] == execution_arn.rsplit(":", 1)[-1]
    assert context["executionInput"] == payload
    assert ISO_MILLIS.match(context["startTime"]) and ISO_MILLIS.match(context["enteredTime"])
    assert context["stateName"] == "Describe"
    assert context["stateMachineId"] == arn
    assert context["stateMachineName"] == arn.rsplit(":", 1)[-1]
    assert context["roleArn"].startswith("arn:aws:iam::")
    # And each intrinsic function returned what AWS documents
    computed = output["computed"]
    assert computed["greeting"] == "Hello Ann, you have 3 items"
    assert computed["parsed"] == {"theme": "dark"}
    assert json.loads(computed["serialised"]) == {"theme": "dark", "size": 1}
    assert computed["array"] == ["Ann", 3, "x"]
    assert computed["partitions"] == [[1, 2], [3, 4], [5]]
    assert computed["containsThree"] is True
    assert computed["range"] == [0, 5, 10]
    assert (computed["second"], computed["length"], computed["unique"]) == (2, 5, [1, 2])
    assert (computed["encoded"], computed["decoded"]) == ("QW5u", "hello")
    assert computed["sha256"] == hashlib.sha256(b"Ann").hexdigest()
    assert computed["merged"] == {"theme": "dark", "size": 2}
    assert computed["random"] in (1, 2, 3)
    assert computed["sum"] == 2
    assert computed["words"] == ["a", "b", "c"]
    assert uuid.UUID(computed["uuid"])


def test_fail_takes_its_error_and_cause_from_paths_and_intrinsics(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a Fail state with ErrorPath and a States.Format CausePath
    stack = deploy_compat("sfn_context_intrinsics")
    payload = {
        "name": "Bob",
        "count": 1,
        "errorCode": "NotAllowed",
        "settingsJson": "{}",
        "settings": {},
        "overrides": {},
        "numbers": [1, 2],
        "repeated": [],
        "sentence": "x",
        "waitSeconds": 0,
        "notBefore": "2020-01-01T00:00:00Z",
    }

    # When the Choice falls to it
    execution = _run(aws, stack.outputs["IntrinsicsStateMachineArn"], payload)

    # Then the execution fails with the error and cause computed from the input
    assert (execution["status"], execution["error"], execution["cause"]) == (
        "FAILED",
        "NotAllowed",
        "Bob is not allowed",
    )


def test_a_jsonata_state_machine_runs(aws: EmbeddedAws, deploy_compat: DeployCompat) -> None:
    # Given a QueryLanguage: JSONata workflow with Output, Assign, Condition and $uuid()
    stack = deploy_compat("sfn_context_intrinsics")
    arn = stack.outputs["JsonataStateMachineArn"]

    # When the numbers add up to more than 5
    execution_arn = _start(aws, arn, {"numbers": [1, 2, 3], "name": "ann"})
    output = _output(_finished(aws, execution_arn))

    # Then each expression was evaluated as JSONata
    assert {k: output[k] for k in ("total", "upper", "execution", "size")} == {
        "total": 6,
        "upper": "ANN",
        "execution": execution_arn.rsplit(":", 1)[-1],
        "size": "big",
    }
    assert uuid.UUID(output["id"])

    # When they do not, Then the Fail state's JSONata Cause reads the assigned variable
    small = _run(aws, arn, {"numbers": [1], "name": "bo"})
    assert (small["status"], small["error"], small["cause"]) == ("FAILED", "TooSmall", "total was 1")


def test_start_execution_sync_2_waits_for_the_child_and_returns_its_output_as_json(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given a parent running a child workflow through states:startExecution.sync:2 (PascalCase parameters)
    stack = deploy_compat("sfn_sdk_dynamodb")

    # When the parent runs
    output = _output(_run(aws, stack.outputs["ParentFlowArn"], {"userId": "u-3"}))

    # Then its result is the child's DescribeExecution in PascalCase, Output parsed as JSON
    assert output["Status"] == "SUCCEEDED"
    assert output["Output"] == {"greeting": "hi u-3"}
    assert output["ExecutionArn"].startswith("arn:aws:states:")


def test_a_lambda_tasks_in_process_invoke_answers_as_the_lambda_api(
    aws: EmbeddedAws, deploy_compat: DeployCompat
) -> None:
    # Given the Lambda client Step Functions' Lambda tasks use, and a function raising PaymentDeclined
    from embedded_aws import sfn_interpreter

    stack = deploy_compat("sfn_lambda_errors")
    task_client = sfn_interpreter._shared_boto_client(aws.region, "lambda")
    api = aws.client("lambda")
    name = next(
        f["FunctionName"]
        for f in api.list_functions()["Functions"]
        if f["FunctionName"].startswith(stack.name)
    )
    assert type(task_client).__name__ == "_InProcessLambda"

    def answer(client: Any, **params: Any) -> dict[str, Any]:
        response = dict(client.invoke(**params))
        metadata = response.pop("ResponseMetadata")
        payload = json.loads(response.pop("Payload").read())
        payload.pop("requestId", None)
        headers = {
            k: v for k, v in metadata["HTTPHeaders"].items() if k in ("content-type", "x-amz-function-error")
        }
        return {**response, "Payload": payload, "status": metadata["HTTPStatusCode"], "headers": headers}

    # When the same calls are made through it and through the Lambda API
    for payload in ({"order": {"id": "o-9"}}, {"order": {"id": "o-9", "card": "declined"}}):
        params = {"FunctionName": name, "Payload": json.dumps(payload)}
        # Then the answers are the same: status, function error, headers and payload (request ids aside)
        assert answer(task_client, **params) == answer(api, **params)

    # And an unknown function is the same ResourceNotFoundException, with its status
    errors = []
    for client in (task_client, api):
        with pytest.raises(ClientError) as refused:
            client.invoke(FunctionName=f"{stack.name}-missing", Payload=b"{}")
        error = refused.value.response
        errors.append(
            (type(refused.value).__name__, error["Error"], error["ResponseMetadata"]["HTTPStatusCode"])
        )
    assert errors[0] == errors[1]
    assert errors[0][0] == "ResourceNotFoundException"
