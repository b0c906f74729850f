"""Step Functions: start executions named by business key, so a duplicate event starts nothing new."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient
from pipeline.errors import TransientError


class Workflows:
    """Starts executions. The client is injectable; the default is made once per cold start."""

    sfn = LazyClient("stepfunctions")

    def __init__(self, client: Any | None = None) -> None:
        self.sfn = client

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> bool:
        """Start an execution; False when one of that name already ran with other input (a duplicate)."""
        try:
            self.sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ExecutionAlreadyExists":
                return False
            raise TransientError(f"StartExecution failed: {exc}") from exc
        return True
