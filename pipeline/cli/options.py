"""Options and output shared by the CLI's commands (`app.py` and the command groups beside it)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document (full ids, keys and URLs) instead of tables.")
]
StackOpt = Annotated[str, typer.Option("--stack-name", "-s", help="CloudFormation stack name.")]
EndpointOpt = Annotated[
    str,
    typer.Option(
        "--endpoint-url", help="AWS endpoint; empty for AWS itself.", envvar="PIPELINE_ENDPOINT_URL"
    ),
]
RegionOpt = Annotated[
    str,
    typer.Option("--region", help="AWS region of the stack.", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"]),
]


def print_json(data: Any) -> None:
    """`--json`: one document on stdout as is (rich would wrap long strings at the terminal's width)."""
    typer.echo(json.dumps(data, indent=2))
