"""`pipeline …` commands: run the embedded AWS and look inside it. Never part of the Lambda artifact."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.errors import PipelineError

if TYPE_CHECKING:  # the embedded AWS is imported only by the commands that start it
    from pipeline.local.runtime import FunctionConfig, InvokeResult
    from pipeline.local.stack import DeployedStack, EmbeddedAws

app = typer.Typer(help="Event-driven file and data publishing pipeline: local tools.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)

TemplateOpt = Annotated[Path, typer.Option("--template", "-t", help="SAM or CloudFormation template.")]
PortOpt = Annotated[int, typer.Option("--port", "-p", help="Port of the embedded AWS on 127.0.0.1.")]
StackOpt = Annotated[str, typer.Option("--stack-name", "-s", help="CloudFormation stack name.")]
StateOpt = Annotated[Path, typer.Option("--state-dir", help="Where logs and the outbox are written.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="Template parameter override, NAME=VALUE (repeatable).")
]


def _parameters(values: list[str] | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="--param")
        parameters[name] = value
    return parameters


def _fail(exc: PipelineError) -> typer.Exit:
    errors.print(f"[bold red]error[/] {escape(f'[{exc.reason}] {exc.message}')}")
    return typer.Exit(code=1)


def _stack_table(stack: DeployedStack) -> Table:
    table = Table(title=f"Stack {stack.name}: {stack.status} in {stack.seconds:.1f} s", title_justify="left")
    table.add_column("Logical id")
    table.add_column("Type")
    table.add_column("Physical id", overflow="fold")
    for logical_id, (kind, physical) in sorted(stack.resources.items(), key=lambda item: item[1][0]):
        table.add_row(logical_id, kind, physical)
    return table


def _outputs_table(outputs: dict[str, str]) -> Table:
    table = Table(title="Outputs", title_justify="left")
    table.add_column("Output")
    table.add_column("Value", overflow="fold")
    for key, value in sorted(outputs.items()):
        table.add_row(key, value)
    return table


def _functions_table(aws: EmbeddedAws) -> Table:
    table = Table(title="Lambda functions (local workers)", title_justify="left")
    for column in ("Function", "Handler", "Invocations", "Errors", "Timeouts", "Cold starts", "Log"):
        table.add_column(column, overflow="fold")
    for name, (config, stats, log_path) in sorted(aws.runtime.stats().items()):
        table.add_row(
            name,
            config.handler,
            str(stats.invocations),
            str(stats.errors),
            str(stats.timeouts),
            str(stats.cold_starts),
            str(log_path),
        )
    return table


def _start(port: int, state_dir: Path) -> EmbeddedAws:
    from pipeline.local.stack import EmbeddedAws

    aws = EmbeddedAws(port, state_dir=state_dir)
    try:
        with console.status(f"Starting the embedded AWS on 127.0.0.1:{port} …"):
            aws.start()
    except PipelineError as exc:
        raise _fail(exc) from exc

    def show(config: FunctionConfig, result: InvokeResult, source: str) -> None:
        cold = " (cold)" if result.cold_start else ""
        if result.errored:
            message = (result.error or {}).get("errorMessage", "")
            console.print(
                f"[red]✗[/] {config.name} from {source}: [red]{result.error_type}[/] {message} "
                f"({result.duration_ms:.0f} ms{cold}) — log: {aws.runtime.stats()[config.name][2]}"
            )
        else:
            console.print(f"[green]✓[/] {config.name} from {source} ({result.duration_ms:.0f} ms{cold})")

    aws.runtime.listeners.append(show)
    return aws


@app.command()
def up(
    template: TemplateOpt = Path("template.yaml"),
    port: PortOpt = 4566,
    stack_name: StackOpt = "pipeline",
    param: ParamOpt = None,
    state_dir: StateOpt = Path(".pipeline"),
) -> None:
    """Start the embedded AWS, deploy TEMPLATE as a stack, and run until Ctrl-C or SIGTERM."""
    parameters = _parameters(param)
    aws = _start(port, state_dir)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        with console.status(f"Deploying {template} as stack {stack_name} …"):
            stack = aws.deploy(template, stack_name, parameters)
        console.print(_stack_table(stack))
        console.print(_outputs_table(stack.outputs))
        console.print(_functions_table(aws))
        console.print(
            f"[bold green]Ready[/] on {aws.endpoint_url} — try: aws --endpoint-url {aws.endpoint_url} "
            f"cloudformation describe-stacks --stack-name {stack_name}\n"
            f"Logs: {aws.runtime.log_dir}  Outbox: {aws.outbox.path}  Stop: Ctrl-C"
        )
        sys.stdout.flush()
        stopping.wait()
        console.print("Stopping …")
        console.print(_functions_table(aws))
    except PipelineError as exc:
        raise _fail(exc) from exc
    finally:
        aws.stop()


@app.command()
def demo(
    template: TemplateOpt = Path("template.yaml"),
    port: PortOpt = 4566,
    state_dir: StateOpt = Path(".pipeline"),
) -> None:
    """Start a fresh embedded AWS, deploy the project's template, show what runs, and stop."""
    started = time.perf_counter()
    aws = _start(port, state_dir)
    try:
        with console.status(f"Deploying {template} …"):
            stack = aws.deploy(template, "pipeline-demo")
        console.print(_stack_table(stack))
        console.print(_outputs_table(stack.outputs))
        console.print(_functions_table(aws))
        seen = aws.client("cloudformation").describe_stacks(StackName="pipeline-demo")["Stacks"][0]
        console.print(
            f"[bold green]Deployed[/] {len(stack.resources)} resources; the CloudFormation API reports "
            f"{seen['StackStatus']}. Whole demo: {time.perf_counter() - started:.1f} s."
        )
        if seen["StackStatus"] != "CREATE_COMPLETE":
            raise typer.Exit(code=1)
    except PipelineError as exc:
        raise _fail(exc) from exc
    finally:
        aws.stop()


@app.command()
def outbox(state_dir: StateOpt = Path(".pipeline")) -> None:
    """Show the email and SMS messages the embedded AWS would have sent."""
    from pipeline.local.stack import Outbox

    entries = Outbox.read(state_dir.resolve() / "outbox.jsonl")
    table = Table(title=f"Outbox: {len(entries)} message(s)", title_justify="left")
    for column in ("Time", "Protocol", "To", "Subject", "Message"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            entry["time"], entry["protocol"], entry["endpoint"], entry.get("subject") or "", entry["message"]
        )
    console.print(table)


if __name__ == "__main__":
    app()
