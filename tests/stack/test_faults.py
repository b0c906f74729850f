"""Fault injection on a running embedded AWS: crashes, throttles, AWS errors on functions' calls, duplicates.

The tests share the session's embedded AWS (moto's backends are process-wide: a second one in this process
would reset the first) and turn faults on for their own stack only while they run: `EmbeddedAws.faults` may
be set at any time, as `make chaos` does to let the stack settle after its faults. The last two drive a
`LambdaRuntime` of their own, to crash a worker at a chosen moment.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from embedded_aws.clients import new_client
from embedded_aws.faults import Faults
from embedded_aws.runtime import FunctionConfig, LambdaRuntime
from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.conftest import Deploy


@contextlib.contextmanager
def injecting(aws: EmbeddedAws, text: str) -> Iterator[Faults]:
    """Faults on (from `--faults` text) for the block only."""
    faults = Faults.parse(text)
    aws.faults = faults
    try:
        yield faults
    finally:
        aws.faults = None


def invoke(aws: EmbeddedAws, stack: DeployedStack, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Invoke the Writer synchronously; returns (the response, its payload)."""
    response = aws.client("lambda").invoke(
        FunctionName=stack.outputs["WriterName"], Payload=json.dumps({"key": key}).encode()
    )
    return response, json.loads(response["Payload"].read())


def handled(aws: EmbeddedAws, stack: DeployedStack, body: str) -> list[str]:
    """The deliveries of `body` the Recorder handled: `<delivery id>-<request id>` each."""
    listing = aws.client("s3").list_objects_v2(
        Bucket=stack.outputs["RecordsBucketName"], Prefix=f"handled/{body}/"
    )
    return [item["Key"].rsplit("/", 1)[1] for item in listing.get("Contents", [])]


def drained(aws: EmbeddedAws, stack: DeployedStack) -> bool:
    """Whether the queue holds no message, visible or in flight."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs["QueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def test_with_faults_off_each_message_is_handled_once_and_invocations_succeed(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack with faults off (all kinds at 0)
    stack = deploy("faults.yaml")
    with injecting(aws, "crash=0,throttle=0,aws-errors=0,duplicate=0") as faults:
        # When a message is sent and the Writer is invoked
        aws.client("sqs").send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="calm")
        response, payload = invoke(aws, stack, "written/calm")
        assert poll_until(lambda: handled(aws, stack, "calm"), timeout_s=15)
        assert poll_until(lambda: drained(aws, stack), timeout_s=15)

    # Then the message was handled once, the invocation succeeded, and no fault was injected
    assert len(handled(aws, stack, "calm")) == 1
    assert "FunctionError" not in response
    assert payload == {"written": "written/calm"}
    assert faults.counts() == {"crash": 0, "throttle": 0, "aws-errors": 0, "duplicate": 0}


def test_with_crashes_a_synchronous_invoke_fails_as_a_dead_runtime_and_the_next_starts_cold(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack, its Writer warm
    stack = deploy("faults.yaml")
    invoke(aws, stack, "written/warm")

    # When the Writer is invoked with every invocation crashing
    with injecting(aws, "crash=1.0,seed=3") as faults:
        response, payload = invoke(aws, stack, "written/crashed")

    # Then the call fails as Lambda reports a runtime process that died: Runtime.ExitError, killed
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: signal: killed" in payload["errorMessage"]
    assert faults.counts()["crash"] == 1
    # And with faults off again the next invocation runs, on a new worker
    pool = aws.runtime.pool(stack.outputs["WriterName"])
    cold_before = pool.stats.cold_starts
    response, payload = invoke(aws, stack, "written/after")
    assert "FunctionError" not in response
    assert pool.stats.cold_starts == cold_before + 1


def test_with_throttles_invoke_answers_429_too_many_requests_and_the_function_never_runs(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack, and a Lambda client that does not retry (the SDK retries 429s; botocore's
    # `max_attempts` counts retries)
    stack = deploy("faults.yaml")
    lam = new_client("lambda", endpoint_url=aws.endpoint_url, region=aws.region, max_attempts=0)
    pool = aws.runtime.pool(stack.outputs["WriterName"])
    calls_before = pool.stats.invocations

    # When the Writer is invoked with every invocation throttled
    with injecting(aws, "throttle=1.0") as faults, pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName=stack.outputs["WriterName"], Payload=b'{"key": "written/throttled"}')

    # Then Lambda's throttling error comes back, HTTP 429, and the function did not run
    error = raised.value.response
    assert error["Error"]["Code"] == "TooManyRequestsException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert pool.stats.invocations == calls_before
    assert faults.counts()["throttle"] == 1


def test_with_aws_errors_a_functions_s3_call_fails_with_s3s_error_after_its_retries_and_the_hosts_pass(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack (its Writer's SDK: standard retries, 3 attempts)
    stack = deploy("faults.yaml")
    s3, bucket = aws.client("s3"), stack.outputs["RecordsBucketName"]

    # When the Writer writes with every AWS request of a function failing, and the test writes too
    with injecting(aws, "aws-errors=1.0,seed=7") as faults:
        response, payload = invoke(aws, stack, "written/refused")
        s3.put_object(Bucket=bucket, Key="host/mine", Body=b"host")
        host_keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]

    # Then the function failed with the SDK's error naming S3's own error code, after its retries
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ClientError"
    assert re.match(
        r"An error occurred \((InternalError|SlowDown|ServiceUnavailable)\) when calling the PutObject "
        r"operation \(reached max retries: 2\)",
        payload["errorMessage"],
    ), payload["errorMessage"]
    assert faults.counts()["aws-errors"] == 3  # the first attempt and two retries
    # And the test's own calls (the host's) were never touched: its object is there, the function's is not
    assert host_keys == ["host/mine"]


def test_with_throttles_a_queues_batch_is_retried_in_flight_and_received_once(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack: queue (visibility timeout 30 s, 5 receives before its DLQ) → Recorder
    stack = deploy("faults.yaml")

    # When a message is sent while every invocation is throttled, and the throttling stops after three
    with injecting(aws, "throttle=1.0") as faults:
        aws.client("sqs").send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="held")
        assert poll_until(lambda: faults.counts()["throttle"] >= 3, timeout_s=20)
    assert poll_until(lambda: handled(aws, stack, "held"), timeout_s=20)
    assert poll_until(lambda: drained(aws, stack), timeout_s=15)

    # Then Lambda's poller kept the batch and tried again with backoff: handled once, on its first receive
    # (a poller that returned it to the queue at each throttle would have used a receive each time)
    [delivery] = handled(aws, stack, "held")
    body = aws.client("s3").get_object(
        Bucket=stack.outputs["RecordsBucketName"], Key=f"handled/held/{delivery}"
    )["Body"]
    assert body.read() == b"1"


def test_with_duplicates_an_sqs_message_is_handled_twice_and_an_sns_delivery_goes_out_twice(
    aws: EmbeddedAws, deploy: Deploy
) -> None:
    # Given the stack: topic → queue (raw delivery) → Recorder
    stack = deploy("faults.yaml")

    # When one message is sent to the queue and one published to the topic, with every delivery duplicated
    with injecting(aws, "duplicate=1.0") as faults:
        aws.client("sqs").send_message(QueueUrl=stack.outputs["QueueUrl"], MessageBody="twice")
        aws.client("sns").publish(TopicArn=stack.outputs["TopicArn"], Message="fanned")
        assert poll_until(lambda: len(handled(aws, stack, "twice")) >= 2, timeout_s=15)
        assert poll_until(lambda: len(handled(aws, stack, "fanned")) >= 4, timeout_s=15)
        assert poll_until(lambda: drained(aws, stack), timeout_s=15)

    # Then the SQS message was handled twice, both times with its one MessageId (as SQS redelivers it)
    twice = handled(aws, stack, "twice")
    assert len(twice) == 2
    assert len({delivery.rsplit("-", 5)[0] for delivery in twice}) == 1
    # And the SNS delivery reached the queue twice (two SQS messages), each of them delivered twice by SQS
    fanned = handled(aws, stack, "fanned")
    assert len(fanned) == 4
    assert len({delivery.rsplit("-", 5)[0] for delivery in fanned}) == 2
    assert faults.counts()["duplicate"] == 4  # 1 SQS copy, then 1 SNS copy and 2 SQS copies


# --- crashes in the runtime itself (no moto: the handler makes no AWS call) --------------------------------
HANDLER = """
import pathlib, time

def handler(event, context):
    time.sleep(event["sleep"])
    pathlib.Path(event["marker"]).write_text("done")
    return {"done": True}
"""


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[LambdaRuntime, str]]:
    """A runtime of its own with one function that sleeps, then leaves a marker file, then answers."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    runtime = LambdaRuntime("http://127.0.0.1:9", "us-east-1", tmp_path / "logs", log_sink=lambda *_: None)
    arn = "arn:aws:lambda:us-east-1:123456789012:function:sleeper"
    runtime.register(FunctionConfig("sleeper", arn, "app.handler", code, timeout_s=10.0))
    yield runtime, "sleeper"
    runtime.shutdown()


def test_a_crash_while_the_handler_runs_stops_it_before_its_side_effect(
    sleeper: tuple[LambdaRuntime, str], tmp_path: Path
) -> None:
    # Given a handler that would sleep 5 s before leaving its marker
    runtime, name = sleeper
    marker = tmp_path / "mid-way"

    # When its worker is to crash 50 ms in
    result = runtime.pool(name).invoke({"sleep": 5, "marker": str(marker)}, crash_after_s=0.05)

    # Then the invocation fails as a killed runtime and the handler never got to its marker
    assert result.error_type == "Runtime.ExitError"
    assert "signal: killed" in str(result.error)
    assert not marker.exists()


def test_a_crash_due_after_the_handler_answered_still_loses_the_answer(
    sleeper: tuple[LambdaRuntime, str], tmp_path: Path
) -> None:
    # Given a handler that leaves its marker and answers at once
    runtime, name = sleeper
    marker = tmp_path / "done"

    # When its worker is to crash 5 s in (after the answer came)
    result = runtime.pool(name).invoke({"sleep": 0, "marker": str(marker)}, crash_after_s=5.0)

    # Then its work is done but its answer is never read: the invocation fails as a killed runtime
    assert marker.read_text() == "done"
    assert result.error_type == "Runtime.ExitError"
    assert "signal: killed" in str(result.error)
    # And the next invocation, with no crash due, succeeds on a new worker
    again = runtime.pool(name).invoke({"sleep": 0, "marker": str(marker)})
    assert (again.error, again.cold_start) == (None, True)
