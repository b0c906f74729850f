"""Shared test helpers: paths and fixed seeds."""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from embedded_aws.stack import DeployedStack, EmbeddedAws

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
TEMPLATES = FIXTURES / "templates"


@pytest.fixture(autouse=True)
def _aws_test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test can reach a real AWS account: fake credentials and a fixed region."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("PYTHONHASHSEED", "0")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    """One embedded AWS per test session (moto's backends are process-wide); each test deploys a stack."""
    from embedded_aws.stack import EmbeddedAws

    embedded = EmbeddedAws(free_port(), state_dir=tmp_path_factory.mktemp("embedded-aws"))
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(autouse=True)
def _no_internal_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the embedded AWS fails if a request in it hit an exception inside the embedded AWS (a bug,
    once an HTML 500; now `InternalFailure`). A test provoking one wraps it in `aws.server_errors.expect()`.
    """
    if "aws" not in request.fixturenames:
        yield
        return
    embedded: EmbeddedAws = request.getfixturevalue("aws")
    mark = len(embedded.server_errors)
    yield
    failures = embedded.server_errors.unexpected_failures(mark)
    if failures:
        listing = "; ".join(f"{e.name} → {e.status} {e.code}: {e.message}" for e in failures)
        pytest.fail(f"The embedded AWS failed internally during this test (see its log): {listing}")


Deploy = Callable[..., "DeployedStack"]
_stack_numbers = itertools.count(1)


@pytest.fixture
def deploy(aws: EmbeddedAws, request: pytest.FixtureRequest) -> Iterator[Deploy]:
    """Deploy a template (a fixture template's file name, or a path) as a stack named after the test.

    The test's stacks are deleted after it: their functions, pollers and schedules would otherwise keep
    working (and the 2 cores busy) for the rest of the session.
    """
    names: list[str] = []

    def _deploy(template: str | Path, parameters: dict[str, str] | None = None) -> DeployedStack:
        path = template if isinstance(template, Path) else TEMPLATES / template
        name = re.sub(r"[^a-zA-Z0-9-]", "-", f"t{next(_stack_numbers)}-{request.node.name[:40]}")
        names.append(name)
        return aws.deploy(path, name, parameters)

    yield _deploy
    for name in names:
        if name in aws.stacks:  # a refused deploy left nothing to delete
            aws.delete(name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every test that uses the session's embedded AWS after those that do not.

    The functional tier's `mock_aws` resets moto's process-wide backends and configuration when it ends;
    with the embedded AWS already serving from the same backends, that would stop Step Functions executing
    and empty what earlier tests deployed. A stable sort keeps each group's own order.
    """
    items.sort(key=lambda item: "aws" in getattr(item, "fixturenames", ()))


def update_function(
    aws: EmbeddedAws,
    stack: DeployedStack,
    logical_id: str,
    environment: dict[str, str],
    *,
    timeout_s: int | None = None,
) -> dict[str, str]:
    """Change a deployed function's environment variables (and its timeout); returns the variables it had."""
    lam = aws.client("lambda")
    name = stack.physical_id(logical_id)
    variables = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    # str(): the embedded AWS answers a Number parameter's value as a number (AWS: always a string)
    before = {key: str(value) for key, value in variables.items()}
    change: dict[str, object] = {"Environment": {"Variables": {**before, **environment}}}
    if timeout_s is not None:
        change["Timeout"] = timeout_s
    lam.update_function_configuration(FunctionName=name, **change)
    return before


def subscribe_queue(aws: EmbeddedAws, topic_arn: str, queue_name: str, *, raw: bool = False) -> str:
    """A new queue subscribed to a topic, with the queue policy that lets the topic send to it (as on AWS,
    SNS delivers to a queue only when its policy allows); returns the queue's URL."""
    sqs, sns = aws.client("sqs"), aws.client("sns")
    url: str = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}
    )
    attributes = {"RawMessageDelivery": "true"} if raw else {}
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url
