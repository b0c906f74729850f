"""The compatibility corpus: small SAM templates written the way public pattern collections write them.

Each folder holds one `template.yaml` (and its handlers under `src/`); its test deploys it on the session's
embedded AWS, drives it with boto3 and asserts what AWS documents.
"""

from __future__ import annotations

import json
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from tests.conftest import Deploy

COMPAT = Path(__file__).resolve().parent

DeployCompat = Callable[..., DeployedStack]
#: Seconds each compat template took to deploy (create to CREATE_COMPLETE with functions live), this session.
DEPLOY_SECONDS: dict[str, list[float]] = defaultdict(list)


@pytest.fixture
def deploy_compat(deploy: Deploy) -> DeployCompat:
    """Deploy `tests/compat/<name>/template.yaml` as a stack named after the test."""

    def _deploy(name: str, parameters: dict[str, str] | None = None) -> DeployedStack:
        stack = deploy(COMPAT / name / "template.yaml", parameters)
        DEPLOY_SECONDS[name].append(stack.seconds)
        return stack

    return _deploy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if COMPAT in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.compat)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line of figures for the corpus: templates deployed and the median deploy time."""
    if not DEPLOY_SECONDS:
        return
    medians = {name: statistics.median(seconds) for name, seconds in DEPLOY_SECONDS.items()}
    slowest = max(medians, key=medians.__getitem__)
    terminalreporter.write_line(
        f"compat corpus: {len(medians)} templates deployed, median deploy "
        f"{statistics.median(medians.values()):.2f} s (slowest {slowest}: {medians[slowest]:.2f} s)"
    )


def start_execution(aws: EmbeddedAws, state_machine_arn: str, payload: Any) -> str:
    """Start an execution with a unique name; returns its ARN."""
    execution: dict[str, Any] = aws.client("stepfunctions").start_execution(
        stateMachineArn=state_machine_arn, name=f"run-{uuid.uuid4().hex}", input=json.dumps(payload)
    )
    return str(execution["executionArn"])


def finished_execution(aws: EmbeddedAws, execution_arn: str, timeout_s: float = 60) -> dict[str, Any]:
    """DescribeExecution once the execution has ended (fails the test after `timeout_s`)."""
    sfn = aws.client("stepfunctions")

    def done() -> dict[str, Any] | None:
        description: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        return None if description["status"] == "RUNNING" else description

    result: dict[str, Any] | None = poll_until(done, timeout_s=timeout_s, interval_s=0.2)
    assert result is not None, f"{execution_arn} still running after {timeout_s} s"
    return result


def run_execution(aws: EmbeddedAws, state_machine_arn: str, payload: Any) -> dict[str, Any]:
    """Start an execution and wait for its end."""
    return finished_execution(aws, start_execution(aws, state_machine_arn, payload))
