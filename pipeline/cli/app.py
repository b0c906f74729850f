"""`pipeline …` commands: run the embedded AWS and look inside it. Never part of the Lambda artifact."""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import signal
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from embedded_aws.errors import EmbeddedAwsError
from pipeline.cli import dlq
from pipeline.cli.options import EndpointOpt, JsonOpt, RegionOpt, StackOpt, print_json
from pipeline.errors import PipelineError

if TYPE_CHECKING:  # the embedded AWS is imported only by the commands that start it
    from embedded_aws.runtime import FunctionConfig, InvokeResult
    from embedded_aws.stack import DeployedStack, EmbeddedAws
    from pipeline.adapters.subscriptions import Subscriptions
    from pipeline.cli import uploads as uploads_module
    from pipeline.cli.changes import ChangeOutcome, DemoEvent
    from pipeline.cli.uploads import Outcome
    from pipeline.client import EmitResult

app = typer.Typer(help="Event-driven file and data publishing pipeline: local tools.", no_args_is_help=True)
app.add_typer(dlq.app, name="dlq")
console = Console()
errors = Console(stderr=True)

TemplateOpt = Annotated[Path, typer.Option("--template", "-t", help="SAM or CloudFormation template.")]
PortOpt = Annotated[int, typer.Option("--port", "-p", help="Port of the embedded AWS on 127.0.0.1.")]
StateOpt = Annotated[Path, typer.Option("--state-dir", help="Where logs and the outbox are written.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="Template parameter override, NAME=VALUE (repeatable).")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Lambda invocations running at once, all functions together (default: CPU count + 1).",
    ),
]
FaultsOpt = Annotated[
    str | None,
    typer.Option(
        "--faults",
        help="Inject faults (off by default), e.g. crash=0.1,duplicate=0.1,seed=7; kinds: crash, throttle, "
        "aws-errors, duplicate.",
    ),
]


def _parameters(values: list[str] | None) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r} is not NAME=VALUE.", param_hint="--param")
        parameters[name] = value
    return parameters


def _fail(exc: PipelineError | EmbeddedAwsError) -> typer.Exit:
    errors.print(f"[bold red]error[/] {escape(f'[{exc.reason}] {exc.message}')}")
    return typer.Exit(code=1)


FullOpt = Annotated[bool, typer.Option("--full", help="Full ids and values in the tables (wide).")]
IamOpt = Annotated[
    bool,
    typer.Option(
        "--iam/--no-iam",
        help="Enforce IAM as AWS does: functions and workflows act as their roles; resource policies apply.",
    ),
]


def _short_time(timestamp: str | None) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM:SS` for a table (the JSON keeps it whole)."""
    return (timestamp or "")[:19].replace("T", " ")


def _stack_table(stack: DeployedStack, *, full: bool = False) -> Table:
    """The stack's resources: by type with their logical ids (80 columns), or one per row with its physical
    id (`full`)."""
    title = f"Stack {stack.name}: {stack.status} in {stack.seconds:.1f} s, {len(stack.resources)} resources"
    table = Table(title=title, title_justify="left")
    if full:
        table.add_column("Logical id")
        table.add_column("Type")
        table.add_column("Physical id", overflow="fold")
        for logical_id, (kind, physical) in sorted(stack.resources.items(), key=lambda item: item[1][0]):
            table.add_row(logical_id, kind, physical)
        return table
    by_type: dict[str, list[str]] = {}
    for logical_id, (kind, _) in stack.resources.items():
        by_type.setdefault(kind.removeprefix("AWS::"), []).append(logical_id)
    for column in ("Type", "#", "Logical ids"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for kind, logical_ids in sorted(by_type.items()):
        table.add_row(kind, str(len(logical_ids)), ", ".join(sorted(logical_ids)))
    table.caption, table.caption_justify = "Physical ids: --full or --json.", "left"
    return table


def _outputs_table(outputs: dict[str, str], stack_name: str, *, full: bool = False) -> Table:
    """The stack's Outputs; in 80 columns an ARN or queue URL is shown by its resource's name, less the
    `<stack>-` every name starts with (`full` and `--json` show the values whole)."""
    title = "Outputs" if full else f"Outputs (ARNs, URLs: name less '{stack_name}-'; whole: --full, --json)"
    table = Table(title=title, title_justify="left")
    table.add_column("Output")
    table.add_column("Value", overflow="fold")
    for key, value in sorted(outputs.items()):
        table.add_row(key, value if full else _short_value(value, stack_name))
    return table


def _short_value(value: str, stack_name: str) -> str:
    """An ARN's or a URL path's last part (a resource's name), less the stack-name prefix; other values
    (names, a URL without a path) as they are."""
    if value.startswith("arn:"):
        name = value.rpartition(":")[2].rpartition("/")[2]
    elif "://" in value and value.partition("://")[2].strip("/").count("/"):
        name = value.rstrip("/").rpartition("/")[2]
    else:
        return value
    return name.removeprefix(f"{stack_name}-") or name


def _functions_table(aws: EmbeddedAws, *, compact: bool = False) -> Table:
    log_dir = aws.runtime.log_dir
    with contextlib.suppress(ValueError):  # shown relative to here when it is below here
        log_dir = log_dir.resolve().relative_to(Path.cwd())
    table = Table(title=f"Lambda functions (local workers; logs in {log_dir})", title_justify="left")
    columns = ["Function", "Calls", "Errors", "Timeouts", "Cold", "Mean ms"]  # compact: 80 columns
    if not compact:
        columns[1], columns[4] = "Invocations", "Cold starts"
        columns[1:1] = ["Handler", "Python"]
        columns.append("Log")
    for column in columns:
        table.add_column(column, overflow="fold")
    for name, (config, stats, log_path) in sorted(aws.runtime.stats().items()):
        mean = stats.total_ms / stats.invocations if stats.invocations else 0.0
        shown = _logical_name(name) if compact else name
        row = [shown, str(stats.invocations), str(stats.errors), str(stats.timeouts), str(stats.cold_starts)]
        row.append(f"{mean:.0f}")
        if not compact:
            row[1:1] = [config.handler, stats.interpreter]
            row.append(str(log_path))
        table.add_row(*row)
    notes = [
        f"{name}: {s.interpreter_note}"
        for name, (_, s, _) in aws.runtime.stats().items()
        if s.interpreter_note
    ]
    if notes and not compact:  # where a function does not run on the Python its Runtime names, and why
        table.caption = "\n".join(sorted(notes))
        table.caption_justify = "left"
    return table


def _logical_name(function_name: str) -> str:
    """`<stack>-<LogicalId>-<SUFFIX>` (a generated function name) → the logical id, less `Function`."""
    parts = function_name.split("-")
    logical = "-".join(parts[1:-1]) if len(parts) >= 3 else function_name
    return logical.removesuffix("Function") or logical


def _start(
    port: int,
    state_dir: Path,
    *,
    show_invocations: bool = True,
    workers: int | None = None,
    screen: Console = console,
    faults: str | None = None,
    enforce_iam: bool = True,
) -> EmbeddedAws:
    """Start the embedded AWS; progress and each invocation are shown on `screen` (stderr under --json)."""
    from embedded_aws.faults import Faults
    from embedded_aws.stack import EmbeddedAws

    try:
        injecting = Faults.parse(faults) if faults else None
    except EmbeddedAwsError as exc:
        raise _fail(exc) from exc
    if injecting is not None:
        screen.print(f"[yellow]Faults on[/]: {injecting.describe()}")
    if not enforce_iam:
        screen.print("[yellow]IAM off[/]: every request is allowed (what AWS refuses will not fail here)")
    # The embedded AWS leaves a large heap (moto's and botocore's models, parsed state machines) that the
    # interpreter collected, again and again, as it exited: seconds after the command was done. Nothing in it
    # needs finalising once the stack has stopped, so it is frozen out of those collections.
    atexit.register(gc.freeze)
    aws = EmbeddedAws(port, state_dir=state_dir, workers=workers, faults=injecting, enforce_iam=enforce_iam)
    try:
        with screen.status(f"Starting the embedded AWS on 127.0.0.1:{port} …"):
            aws.start()
    except (PipelineError, EmbeddedAwsError) as exc:
        raise _fail(exc) from exc

    def show(config: FunctionConfig, result: InvokeResult, source: str) -> None:
        cold = " (cold)" if result.cold_start else ""
        if result.errored:
            message = (result.error or {}).get("errorMessage", "")
            screen.print(
                f"[red]✗[/] {config.name} from {source}: [red]{result.error_type}[/] {message} "
                f"({result.duration_ms:.0f} ms{cold}) — log: {aws.runtime.log_dir / (config.name + '.log')}"
            )
        else:
            screen.print(f"[green]✓[/] {config.name} from {source} ({result.duration_ms:.0f} ms{cold})")

    if show_invocations:
        aws.runtime.listeners.append(show)
    return aws


@app.command()
def up(
    template: TemplateOpt = Path("template.yaml"),
    port: PortOpt = 4566,
    stack_name: StackOpt = "pipeline",
    param: ParamOpt = None,
    state_dir: StateOpt = Path(".pipeline"),
    workers: WorkersOpt = None,
    full: FullOpt = False,
    json_out: JsonOpt = False,
    faults: FaultsOpt = None,
    iam: IamOpt = True,
) -> None:
    """Start the embedded AWS, deploy TEMPLATE as a stack, and run until Ctrl-C or SIGTERM.

    With --json, the deployed stack is printed as one JSON document once it is ready; everything else
    (progress, invocations) goes to stderr."""
    parameters = _parameters(param)
    screen = errors if json_out else console
    aws = _start(port, state_dir, workers=workers, screen=screen, faults=faults, enforce_iam=iam)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        with screen.status(f"Deploying {template} as stack {stack_name} …"):
            stack = aws.deploy(template, stack_name, _local_api(aws, template, parameters))
        if json_out:
            print_json(_up_json(aws, stack))
        else:
            console.print(_stack_table(stack, full=full))
            console.print(_outputs_table(stack.outputs, stack_name, full=full))
            console.print(_functions_table(aws, compact=not full))
        screen.print(
            f"[bold green]Ready[/] on {aws.endpoint_url} — try: aws --endpoint-url {aws.endpoint_url} "
            f"cloudformation describe-stacks --stack-name {stack_name}\n"
            f"Logs: {aws.runtime.log_dir}  Outbox: {aws.outbox.path}  Stop: Ctrl-C"
        )
        if "ApiUrl" in stack.outputs and "PublicBaseUrl" in stack.outputs:
            screen.print(
                f"Gallery: {stack.outputs['PublicBaseUrl']}/  API: {stack.outputs['ApiUrl']}  "
                "Token: pipeline token NAME"
            )
        sys.stdout.flush()
        stopping.wait()
        screen.print("Stopping …")
        screen.print(_functions_table(aws, compact=not full))
        if aws.faults is not None:
            screen.print("Faults injected: " + ", ".join(f"{k} {n}" for k, n in aws.faults.counts().items()))
    except (PipelineError, EmbeddedAwsError) as exc:
        raise _fail(exc) from exc
    finally:
        aws.stop()


def _local_api(aws: EmbeddedAws, template: Path, parameters: dict[str, str]) -> dict[str, str]:
    """`parameters` plus, for a template with an upload API (parameter `JwtIssuer`) and none given, the
    embedded AWS's development issuer, and where the gallery may mint its tokens."""
    from embedded_aws.template import load_template

    declared = load_template(template).get("Parameters") or {}
    local = {}
    if "JwtIssuer" in declared and not parameters.get("JwtIssuer"):
        local["JwtIssuer"] = aws.oidc_issuer
        if "DevTokenUrl" in declared:
            local["DevTokenUrl"] = f"{aws.oidc_issuer}/token"
    return {**local, **parameters}


def _up_json(aws: EmbeddedAws, stack: DeployedStack) -> dict[str, Any]:
    """`pipeline up --json`: the deployed stack, its Outputs and functions, whole."""
    functions = []
    for name, (config, stats, log_path) in sorted(aws.runtime.stats().items()):
        functions.append(
            {
                "name": name,
                "logical_id": _logical_name(name),
                "handler": config.handler,
                "python": stats.interpreter,
                "python_note": stats.interpreter_note,
                "invocations": stats.invocations,
                "errors": stats.errors,
                "timeouts": stats.timeouts,
                "cold_starts": stats.cold_starts,
                "mean_ms": round(stats.total_ms / stats.invocations, 1) if stats.invocations else 0.0,
                "log": str(log_path),
            }
        )
    return {
        "stack_name": stack.name,
        "status": stack.status,
        "seconds": round(stack.seconds, 2),
        "endpoint_url": aws.endpoint_url,
        "resources": [
            {"logical_id": logical_id, "type": kind, "physical_id": physical}
            for logical_id, (kind, physical) in sorted(stack.resources.items())
        ],
        "outputs": dict(sorted(stack.outputs.items())),
        "functions": functions,
        "log_dir": str(aws.runtime.log_dir),
        "outbox": str(aws.outbox.path),
    }


def _stack(stack_name: str, endpoint_url: str, region: str) -> uploads_module.Stack:
    """The deployed stack, by name; a clear error (and exit 1) when there is none."""
    from pipeline.cli import uploads

    try:
        return uploads.Stack.find(stack_name, endpoint_url or None, region)
    except PipelineError as exc:
        raise _fail(exc) from exc


#: Characters of an item id shown in tables (the whole id is in the JSON key printed below them).
SHORT_ID = 8


def _outcomes_table(outcomes: list[Outcome], expected: dict[str, str] | None = None) -> Group:
    """The uploads' outcomes in 80 columns (short item ids; Outcome is `published` or the refusal's reason
    code), then each file's public JSON key, or the sentence saying why it was refused."""
    table = Table(title="Uploads", title_justify="left")
    for column in ("File", "Outcome", "Item", "v", "Widths", "s"):
        table.add_column(column, overflow="fold")
    notes: list[str] = []
    for o in outcomes:
        if o.state == "published":
            state = "[green]published[/]"
            latest = " (latest)" if o.latest else ""
            notes.append(f"  {escape(o.name)}: {escape(_relative_key(o.url))}{latest}")
        elif o.state == "quarantined":
            state = f"[yellow]{o.reason}[/]"
            notes.append(f"  {escape(o.name)}: {escape(o.detail or '')}")
        else:
            state = "[red]pending[/] (no outcome in time)"
        if expected is not None and _expected_ok(o, expected[o.name]) is False:
            state += f" [red]✗ expected {expected[o.name]}[/]"
        table.add_row(
            o.name,
            state,
            o.item_id[:SHORT_ID],
            str(o.version or ""),
            ",".join(map(str, o.thumbnails)),
            f"{o.seconds:.1f}" if o.seconds is not None else "",
        )
    return Group(table, "Public JSON (under PublicBaseUrl) or why a file was refused:", *notes)


def _relative_key(url: str | None) -> str:
    """A public URL's key, without the CloudFront base every URL shares."""
    if not url:
        return ""
    _, _, rest = url.partition("://")
    return rest.partition("/")[2] or url


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    """One upload's outcome for --json (all but the monotonic clock it started at)."""
    data = asdict(outcome)
    del data["started"]
    return data


def _expected_ok(outcome: Outcome, expected: str) -> bool:
    if expected == "published":
        return outcome.state == "published"
    return outcome.state == "quarantined" and outcome.reason == expected


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files to upload.", exists=True, dir_okay=False)],
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to upload into.")
    ] = "default",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for each file's outcome and report it.")] = False,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 120.0,
    json_out: JsonOpt = False,
    owner: Annotated[
        str | None,
        typer.Option("--as", help="Upload as this user (a session of the stack's UploaderRole): the owner."),
    ] = None,
) -> None:
    """Upload files into the ingest bucket (uploads/<collection>/<name>), with a progress bar. Uploads made
    --as a user are theirs; others are unowned (an `owner` in metadata is never believed)."""
    from rich.progress import Progress

    from pipeline.cli import uploads

    stack = _stack(stack_name, endpoint_url, region)
    with Progress(console=errors if json_out else console) as progress:
        task = progress.add_task("Uploading", total=len(paths))
        outcomes = uploads.upload_paths(
            stack, paths, collection, owner=owner, progress=lambda _: progress.advance(task)
        )
        if wait:
            waiting = progress.add_task("Processing", total=len(outcomes))
            uploads.wait(stack, outcomes, timeout, on_done=lambda _: progress.advance(waiting))
    if json_out:
        print_json([_outcome_json(o) for o in outcomes])
    else:
        console.print(_outcomes_table(outcomes))
    if wait and any(o.state == "pending" for o in outcomes):
        raise typer.Exit(code=1)


def _read_events(source: Path, ndjson: bool) -> list[dict[str, Any] | str]:
    text = sys.stdin.read() if str(source) == "-" else source.read_text()
    if ndjson or source.suffix == ".ndjson":
        return [line for line in text.splitlines() if line.strip()]
    document = json.loads(text)
    return list(document) if isinstance(document, list) else [document]


@app.command()
def emit(
    source: Annotated[
        Path | None, typer.Argument(help="A JSON file (one event or a list), an NDJSON file, or - for stdin.")
    ] = None,
    ndjson: Annotated[bool, typer.Option("--ndjson", help="Read one event per line.")] = False,
    entity: Annotated[str | None, typer.Option(help="With --id: emit one event from flags.")] = None,
    record_id: Annotated[str | None, typer.Option("--id", help="The record's id.")] = None,
    op: Annotated[str, typer.Option(help="upsert or delete.")] = "upsert",
    sequence: Annotated[int | None, typer.Option(help="The record's change sequence.")] = None,
    data: Annotated[str | None, typer.Option(help="The record's data as JSON (upsert).")] = None,
    origin: Annotated[str, typer.Option("--source", help="The upstream system's name.")] = "cli",
    owner: Annotated[str | None, typer.Option(help="Owner, for notification filters.")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection, for notification filters.")] = None,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """Emit change events to the ChangeEvents topic: validated first, sent in batches of 10, each reported."""
    from rich.progress import Progress

    from pipeline.client import ChangeClient

    events: list[dict[str, Any] | str]
    if source is not None:
        events = _read_events(source, ndjson)
    elif entity and record_id and sequence is not None:
        event: dict[str, Any] = {
            "schema_version": 1,
            "source": origin,
            "entity": entity,
            "id": record_id,
            "op": op,
            "sequence": sequence,
            "occurred_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        if data is not None:
            event["data"] = json.loads(data)
        event.update({k: v for k, v in (("owner", owner), ("collection", collection)) if v})
        events = [event]
    else:
        raise typer.BadParameter("Give a FILE (or -), or --entity, --id and --sequence.")
    stack = _stack(stack_name, endpoint_url, region)
    client = ChangeClient(stack.outputs["ChangeEventsTopicArn"], stack.client("sns"))
    results: list[EmitResult] = []
    with Progress(console=errors if json_out else console) as progress:
        task = progress.add_task("Emitting", total=len(events))
        for start in range(0, len(events), 100):
            chunk = events[start : start + 100]
            results.extend(
                r.__class__(r.index + start, r.event, r.message_id, r.reason, r.error)
                for r in client.emit(chunk)
            )
            progress.advance(task, len(chunk))
    if json_out:
        print_json([{"number": r.index + 1, **asdict(r), "ok": r.ok} for r in results])
    else:
        console.print(_emitted_table(results))
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


def _emitted_table(results: list[EmitResult]) -> Group:
    """Each event's outcome in 80 columns (short message ids), then why each refused one was refused."""
    table = Table(
        title=f"Change events: {sum(r.ok for r in results)} of {len(results)} sent", title_justify="left"
    )
    for column in ("#", "Record", "Op", "Sequence", "Outcome", "Message"):
        table.add_column(column, overflow="fold")
    notes = []
    for r in results:
        shown = r.event if isinstance(r.event, dict) else _loads_or_empty(r.event)
        record = f"{shown.get('entity', '?')}/{shown.get('id', '?')}"
        outcome = "[green]sent[/]" if r.ok else f"[red]{r.reason}[/]"
        if not r.ok:
            notes.append(f"  #{r.index + 1}: {escape(r.error or '')}")
        table.add_row(
            str(r.index + 1),
            record,
            str(shown.get("op", "")),
            str(shown.get("sequence", "")),
            outcome,
            (r.message_id or "")[:SHORT_ID],
        )
    return Group(table, *(["Why refused:", *notes] if notes else []))


def _loads_or_empty(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@app.command()
def replay(
    since: Annotated[str, typer.Option("--since", help="ISO date or time (UTC unless an offset is given).")],
    kind: Annotated[str, typer.Option(help="changes, uploads or all.")] = "all",
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """Re-emit archived events since a time; idempotency makes a replay safe to run again."""
    from pipeline.cli import replay as replaying

    try:
        start = datetime.fromisoformat(since)
    except ValueError as exc:
        raise typer.BadParameter(f"{since!r} is not an ISO date or time, e.g. 2026-11-23T10:00.") from exc
    kinds = ("changes", "uploads") if kind == "all" else (kind,)
    stack = _stack(stack_name, endpoint_url, region)
    with (errors if json_out else console).status(f"Replaying {kind} events since {start.isoformat()} …"):
        results = replaying.replay(stack, start, kinds)
    if json_out:
        print_json({"since": start.isoformat(), "replayed": [asdict(r) for r in results]})
    else:
        table = Table(title=f"Replay since {start.isoformat()}", title_justify="left")
        for column in ("Events", "Archived since", "Re-emitted"):
            table.add_column(column)
        for r in results:
            table.add_row(r.kind, str(r.found), str(r.sent))
        console.print(table)
    if any(r.sent < r.found for r in results):
        raise typer.Exit(code=1)


@app.command()
def token(
    user: Annotated[
        str, typer.Argument(help="Who the token names (its `sub`): the owner of what it uploads.")
    ],
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    audience: Annotated[str, typer.Option(help="The audience the API expects (JwtAudience).")] = "pipeline",
    expires: Annotated[int, typer.Option(help="Seconds the token is valid.")] = 3600,
    json_out: JsonOpt = False,
) -> None:
    """Mint a development JWT from the embedded AWS's local issuer, for the upload API (never on AWS).

    Use it as `Authorization: Bearer <token>`; the gallery's sign-in does the same for you."""
    from embedded_aws.oidc import mint_token

    try:
        minted = mint_token(endpoint_url, user, audience=audience, expires_in=expires)
    except (ValueError, KeyError, OSError) as exc:  # refused, not an issuer there, or nothing listening
        errors.print(
            f"[red]No token[/]: {exc}. Is `pipeline up` (or `pipeline demo --serve`) running at "
            f"{endpoint_url}?"
        )
        raise typer.Exit(code=1) from exc
    if json_out:
        print_json({"access_token": minted, "token_type": "Bearer", "expires_in": expires, "sub": user})
    else:
        print(minted)


@app.command()
def status(
    item: Annotated[
        str | None, typer.Argument(help="An item id, or the start of one (as tables show it): its versions.")
    ] = None,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """Show the items the pipeline has recorded, or one item's versions."""
    from pipeline.adapters.metadata_table import MetadataTable

    stack = _stack(stack_name, endpoint_url, region)
    table_store = MetadataTable(stack.outputs["MetadataTableName"], stack.client("dynamodb"))
    if item is None:
        items = sorted(table_store.items(), key=lambda s: s.updated_at or "", reverse=True)
        if json_out:
            print_json([row.model_dump(mode="json") for row in items])
            return
        table = Table(title=f"Items: {len(items)} (whole ids: --json)", title_justify="left")
        for column in ("Item", "Collection", "Latest", "Versions", "Updated (UTC)"):
            table.add_column(column, overflow="fold", no_wrap=column == "Updated (UTC)")
        for row in items:
            table.add_row(
                row.item_id[:SHORT_ID],
                row.collection,
                str(row.latest),
                str(row.versions),
                _short_time(row.updated_at),
            )
        console.print(table)
        return
    state = table_store.state(item)
    if state is None:  # a short id, as tables show it: the one item whose id starts so
        matches = [s for s in table_store.items() if s.item_id.startswith(item)]
        state = matches[0] if len(matches) == 1 else None
    if state is None:
        errors.print(f"No item {item} (or more than one starts so). `pipeline status` lists the items.")
        raise typer.Exit(code=1)
    records = [table_store.version(state.item_id, v) for v in range(1, state.versions + 1)]
    if json_out:
        print_json(
            {
                **state.model_dump(mode="json"),
                "version_records": [r.model_dump(mode="json") for r in records if r is not None],
            }
        )
        return
    title = f"Item {state.item_id} in {state.collection}: latest v{state.latest}"
    table = Table(title=title, title_justify="left")
    for column in ("v", "Name", "Image", "Bytes", "Source", "Recorded (UTC)"):
        table.add_column(column, overflow="fold", no_wrap=column == "Recorded (UTC)")
    for record in records:
        if record is not None:
            table.add_row(
                str(record.version),
                record.name,
                f"{record.image.format} {record.image.width}x{record.image.height}",
                str(record.bytes),
                (record.source.version_id or "")[:SHORT_ID],
                _short_time(record.recorded_at),
            )
    table.caption, table.caption_justify = "Source: the upload's S3 version id (whole: --json).", "left"
    console.print(table)


@app.command()
def demo(
    template: TemplateOpt = Path("template.yaml"),
    port: PortOpt = 4566,
    state_dir: StateOpt = Path(".pipeline"),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the outcomes.")] = 180.0,
    workers: WorkersOpt = None,
    faults: FaultsOpt = None,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep serving the gallery and the API until Ctrl-C.")
    ] = False,
) -> None:
    """Start a fresh embedded AWS, deploy the template, ingest good and bad sample files, show outcomes;
    it ends with the gallery's local URL."""
    from rich.progress import Progress

    from pipeline.cli import changes, samples, subscribers, uploads

    started = time.perf_counter()
    # The sample files are made while the embedded AWS starts and deploys (Pillow works outside the GIL).
    making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="samples")
    made = making.submit(lambda: [(name, make()) for name, make, _ in samples.SAMPLES])
    making.shutdown(wait=False)
    aws = _start(port, state_dir, show_invocations=False, workers=workers, faults=faults)
    try:
        with console.status(f"Deploying {template} …"):
            # Express executions keep no history but their logs: the demo reads outcomes from there.
            deployed = aws.deploy(
                template,
                "pipeline",
                _local_api(
                    aws,
                    template,
                    {**changes.LOGGED_OUTCOMES, "AlertEmail": subscribers.DEMO_ALERT_EMAIL},
                ),
            )
        console.print(
            f"Deployed stack [bold]pipeline[/]: {len(deployed.resources)} resources, "
            f"{len(deployed.functions)} "
            f"functions, in {deployed.seconds:.1f} s. Endpoint {aws.endpoint_url}."
        )
        stack = uploads.Stack(deployed.outputs, aws.endpoint_url, aws.region)
        subscribers.demo_subscribe(stack)
        subscribers.demo_alarm(stack)
        console.print(
            f"Demo subscriber: {subscribers.DEMO_EMAIL} (email: every event) and {subscribers.DEMO_PHONE} "
            f"(SMS: refused files) follow collection {subscribers.DEMO_COLLECTION}. Alarms go to "
            f"{subscribers.DEMO_ALERT_EMAIL}; an item event of a type Notify does not know was published, "
            "as a newer producer might."
        )
        files = made.result()
        expected = {name: outcome for name, _, outcome in samples.SAMPLES}
        again_name = next(name for name, _, outcome in samples.SAMPLES if outcome == "published")
        with Progress(console=console) as progress, ThreadPoolExecutor(max_workers=2) as background:
            task = progress.add_task("Uploading samples", total=len(files))
            outcomes = uploads.upload(
                stack,
                files,
                "demo",
                metadata={"author": "Pipeline demo"},
                owner="demo",
                progress=lambda _: progress.advance(task),
            )
            # The change events flow through the stack while the uploads are processed, as they would.
            total = sum(len(wave) for wave in changes.DEMO_WAVES)
            changing = progress.add_task("Change events", total=total)
            sent = background.submit(
                changes.run_demo, stack, timeout, on_done=lambda _: progress.advance(changing)
            )
            waiting = progress.add_task("Processing uploads", total=len(outcomes))
            reupload = progress.add_task(f"{again_name} again (a new version of the same item)", total=1)

            def upload_again() -> list[uploads.Outcome]:
                second = uploads.upload(stack, [(again_name, dict(files)[again_name])], "demo", owner="demo")
                return uploads.wait(stack, second, timeout, on_done=lambda _: progress.advance(reupload))

            again: list[Future[list[uploads.Outcome]]] = []

            def done(outcome: uploads.Outcome) -> None:
                progress.advance(waiting)
                if outcome.name == again_name and not again:  # its first version is in: send the second
                    again.append(background.submit(upload_again))

            uploads.wait(stack, outcomes, timeout, on_done=done)
            console.print(_outcomes_table(outcomes, expected))
            second = (again[0] if again else background.submit(upload_again)).result()
            changed = sent.result()
        console.print(_outcomes_table(second, {again_name: "published"}))
        failures = [o for o in outcomes if not _expected_ok(o, expected[o.name])]
        if second[0].state != "published" or second[0].version != 2 or not second[0].latest:
            failures.append(second[0])
            errors.print(f"[red]The re-upload of {again_name} did not become version 2 as latest.[/]")
        change_problems = _demo_changes(stack, changed)
        console.print(_functions_table(aws, compact=True))
        console.print(
            f"Public documents: {deployed.outputs['PublicBaseUrl']}/index.json (the distribution, served "
            f"locally), or aws --endpoint-url {aws.endpoint_url} s3 ls "
            f"s3://{deployed.outputs['PublicBucketName']}/ --recursive"
        )
        notice_problems = _demo_outbox(aws, stack, outcomes + second, timeout)
        console.print(f"Whole demo: {time.perf_counter() - started:.1f} s.")
        gallery = deployed.outputs.get("PublicBaseUrl", "")
        console.print(
            f"Gallery: [bold]{gallery}/[/] (sign in with any name: local tokens come from "
            f"{aws.oidc_issuer}). API: {deployed.outputs.get('ApiUrl', 'none')}"
            + ("" if serve else "   Keep it running: pipeline demo --serve")
        )
        if failures or change_problems or notice_problems:
            count = len(failures) + change_problems + notice_problems
            errors.print(f"[red]{count} file(s), change event(s) or notification(s) were not as expected.[/]")
            raise typer.Exit(code=1)
        if serve:
            _serve_until_stopped(aws)
    except (PipelineError, EmbeddedAwsError) as exc:
        raise _fail(exc) from exc
    finally:
        aws.stop()


def _serve_until_stopped(aws: EmbeddedAws) -> None:
    """Keep the embedded AWS serving until Ctrl-C or SIGTERM."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    console.print(f"Serving on {aws.endpoint_url} and the URLs above. Stop: Ctrl-C")
    stopping.wait()
    console.print("Stopping …")


def _demo_outbox(
    aws: EmbeddedAws, stack: uploads_module.Stack, uploaded: list[Outcome], timeout: float
) -> int:
    """Wait for the demo subscriber's notifications, show the outbox, check one per event with its reason."""
    from embedded_aws.stack import poll_until
    from pipeline.cli import subscribers

    expected = len(uploaded) + sum(o.state == "quarantined" for o in uploaded)
    readers = (subscribers.DEMO_EMAIL, subscribers.DEMO_PHONE)

    def alarms() -> list[dict[str, Any]]:
        return [
            e
            for e in aws.outbox.entries()
            if e["endpoint"] == subscribers.DEMO_ALERT_EMAIL and (e.get("subject") or "").startswith("ALARM")
        ]

    def delivered() -> bool:
        sent = [e for e in aws.outbox.entries() if e["endpoint"] in readers]
        return len(sent) >= expected and subscribers.queue_drained(stack, "NotifyQueueUrl") and bool(alarms())

    with console.status("Waiting for the notifications and the alarm …"):
        poll_until(delivered, timeout_s=timeout, interval_s=0.25)
    entries = [e for e in aws.outbox.entries() if e["endpoint"] in readers]
    console.print(_outbox_table(entries, "Outbox: what subscribers receive (again: pipeline outbox)"))
    problems = subscribers.demo_outbox_problems(entries, uploaded)
    alarmed = alarms()
    if alarmed:
        console.print(
            f"[green]✓[/] Alarm email to {subscribers.DEMO_ALERT_EMAIL}: {escape(alarmed[0]['subject'])} "
            "(Notify parked the unknown event; see `pipeline dlq show notify-dlq`, the whole email: "
            "`pipeline outbox`)."
        )
    else:
        problems.append(f"no alarm notification reached {subscribers.DEMO_ALERT_EMAIL}")
    for problem in problems:
        errors.print(f"[red]Notifications:[/] {escape(problem)}")
    if not problems:
        console.print(
            f"[green]✓[/] one email per upload in collection {subscribers.DEMO_COLLECTION} and one SMS per "
            "refused file, each refusal with its reason; nothing from other collections."
        )
    return len(problems)


def _demo_changes(stack: uploads_module.Stack, sent: list[tuple[DemoEvent, ChangeOutcome]]) -> int:
    """Show what became of each of the demo's change events and check the public JSON."""
    from pipeline.cli import changes

    table = Table(title="Change events (outcomes read from the ChangeWorkflow)", title_justify="left")
    for column in ("#", "Event", "Record", "Op", "Seq", "Outcome"):
        table.add_column(column, overflow="fold")
    failures = 0
    details: list[str] = []
    colours = {"recorded": "green", "duplicate": "cyan", "stale": "cyan", "rejected": "yellow"}
    for n, (event, outcome) in enumerate(sent, 1):
        shown = event.event if isinstance(event.event, dict) else _loads_or_empty(event.event)
        state = f"[{colours.get(outcome.outcome, 'red')}]{outcome.outcome}[/]"
        if outcome.detail:
            details.append(f"  #{n}: {escape(outcome.detail)}")
        if outcome.outcome != event.expected:
            state += f" [red]✗ expected {event.expected}[/]"
            failures += 1
        table.add_row(
            str(n),
            event.label,
            f"{shown.get('entity')}/{shown.get('id')}",
            str(shown.get("op")),
            str(shown.get("sequence")),
            state,
        )
    console.print(table)
    for line in details:
        console.print(line)
    valid_events = [e.event for wave in changes.DEMO_WAVES for e in wave if isinstance(e.event, dict)]
    documents, listing = changes.public_records(stack, "product")
    problems = changes.state_differences(changes.expected_state(valid_events), documents, listing)
    for problem in problems:
        errors.print(f"[red]Public JSON differs:[/] {escape(problem)}")
    if not problems:
        live = sorted(i for i, d in documents.items() if not d["deleted"])
        gone = sorted(i for i, d in documents.items() if d["deleted"])
        console.print(
            f"[green]✓[/] records/product/*.json and records/product.json match the latest state exactly: "
            f"{', '.join(live)} live; {', '.join(gone)} deleted (tombstone)."
        )
    return failures + len(problems)


def _outbox_table(entries: list[dict[str, Any]], title: str = "Outbox") -> Group:
    """Who got what, in 80 columns: time, recipient, protocol and subject; each body below, by its #."""
    table = Table(title=f"{title}: {len(entries)} message(s)", title_justify="left")
    for column in ("#", "Time", "To", "Protocol", "Subject"):
        table.add_column(column, overflow="fold", no_wrap=column == "To")
    bodies: list[Any] = []
    for n, entry in enumerate(entries, 1):
        table.add_row(
            str(n),
            entry["time"][11:19],
            entry["endpoint"],
            entry["protocol"],
            escape(entry.get("subject") or ""),
        )
        bodies.append(f"#{n} to {escape(entry['endpoint'])}:")
        bodies.append(Padding(Text(entry["message"].strip()), (0, 0, 1, 4), expand=False))
    return Group(table, *bodies)


@app.command()
def outbox(
    state_dir: StateOpt = Path(".pipeline"),
    to: Annotated[str | None, typer.Option("--to", help="Only messages to this address or number.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the email and SMS messages the embedded AWS would have sent: who, protocol, subject, body."""
    from embedded_aws.stack import Outbox

    entries = [e for e in Outbox.read(state_dir.resolve() / "outbox.jsonl") if to in (None, e["endpoint"])]
    if json_out:
        print_json(entries)
    else:
        console.print(_outbox_table(entries))


EmailOpt = Annotated[str | None, typer.Option("--email", help="An email address.")]
SmsOpt = Annotated[str | None, typer.Option("--sms", help="A phone number in E.164 form, e.g. +14155550123.")]


def _endpoint(email: str | None, sms: str | None) -> tuple[str, str]:
    """The (protocol, endpoint) of --email or --sms, validated; exactly one must be given."""
    from pipeline.cli import subscribers

    if (email is None) == (sms is None):
        raise typer.BadParameter("Give exactly one of --email ADDRESS or --sms +E164.")
    if email is not None:
        return "email", subscribers.email_address(email)
    return "sms", subscribers.phone_number(str(sms))


def _subscriptions(stack_name: str, endpoint_url: str, region: str) -> Subscriptions:
    from pipeline.adapters.subscriptions import Subscriptions

    stack = _stack(stack_name, endpoint_url, region)
    return Subscriptions(stack.outputs["UserNotificationsTopicArn"], stack.client("sns"))


@app.command()
def subscribe(
    email: EmailOpt = None,
    sms: SmsOpt = None,
    owner: Annotated[str | None, typer.Option(help="Only items of this owner.")] = None,
    collection: Annotated[str | None, typer.Option(help="Only items of this collection.")] = None,
    events: Annotated[
        str, typer.Option(help="Comma-separated: published, failed, deleted, rejected.")
    ] = "published,failed,deleted,rejected",
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """Subscribe an email address or phone number to notifications, filtered by owner, collection, event."""
    from pipeline.logic.notifications import filter_policy

    try:
        protocol, address = _endpoint(email, sms)
        policy = filter_policy(owner, collection, [e.strip() for e in events.split(",") if e.strip()])
        subscription, replaced = _subscriptions(stack_name, endpoint_url, region).subscribe(
            protocol, address, policy
        )
    except PipelineError as exc:
        raise _fail(exc) from exc
    if json_out:
        print_json(
            {
                "protocol": protocol,
                "endpoint": address,
                "subscription_arn": subscription.arn,
                "filter_policy": policy,
                "replaced": replaced,
            }
        )
    screen = errors if json_out else console
    screen.print(
        f"[green]✓[/] {protocol} {address} {'now ' if replaced else ''}receives {', '.join(policy['event'])}"
        + (f" for owner {policy['owner'][0]}" if "owner" in policy else "")
        + (f" in collection {policy['collection'][0]}" if "collection" in policy else "")
        + (" (its earlier filters are replaced)" if replaced else "")
        + f". Subscription id: {subscription.arn.rpartition(':')[2]}"
    )
    if protocol == "email" and not replaced:
        screen.print("On AWS, the address first gets an email from AWS asking to confirm the subscription.")
    if protocol == "sms":
        screen.print("On AWS, an account still in the SMS sandbox can only text numbers verified in SNS.")


@app.command()
def unsubscribe(
    email: EmailOpt = None,
    sms: SmsOpt = None,
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """Stop notifications to an email address or phone number."""
    try:
        protocol, address = _endpoint(email, sms)
        removed = _subscriptions(stack_name, endpoint_url, region).unsubscribe(protocol, address)
    except PipelineError as exc:
        raise _fail(exc) from exc
    if not removed:
        errors.print(f"No {protocol} subscription for {address}. `pipeline subscriptions` lists them.")
        raise typer.Exit(code=1)
    if json_out:
        print_json({"protocol": protocol, "endpoint": address, "removed": removed})
        return
    console.print(f"[green]✓[/] {protocol} {address} unsubscribed ({len(removed)} subscription(s)).")


@app.command()
def subscriptions(
    stack_name: StackOpt = "pipeline",
    endpoint_url: EndpointOpt = "http://127.0.0.1:4566",
    region: RegionOpt = "us-east-1",
    json_out: JsonOpt = False,
) -> None:
    """List who receives notifications, and which."""
    from pipeline.logic.notifications import EVENT_TYPES

    try:
        found = sorted(
            _subscriptions(stack_name, endpoint_url, region).all(), key=lambda s: (s.protocol, s.endpoint)
        )
    except PipelineError as exc:
        raise _fail(exc) from exc
    if json_out:
        print_json([{**asdict(sub), "pending": sub.pending} for sub in found])
        return
    pending = sum(sub.pending for sub in found)
    status = f"{pending} pending confirmation (marked *)" if pending else "all confirmed"
    table = Table(title=f"Subscriptions: {len(found)}, {status}", title_justify="left")
    for column in ("Via", "Endpoint", "Events", "Only"):
        # The endpoint is kept whole; the columns of words wrap between them instead.
        table.add_column(column, overflow="fold", no_wrap=column == "Endpoint")
    for sub in found:
        policy = sub.filter_policy or {}
        events = policy.get("event", EVENT_TYPES)
        only = [f"{k} {', '.join(map(str, policy[k]))}" for k in ("owner", "collection") if k in policy]
        table.add_row(
            sub.protocol + ("*" if sub.pending else ""),
            sub.endpoint,
            "all" if set(events) == set(EVENT_TYPES) else ", ".join(map(str, events)),
            ", ".join(only) or "-",
        )
    console.print(table)


@app.command()
def chaos(
    files: Annotated[int, typer.Option(min=1, help="Files to upload (about a sixth bad).")] = 300,
    change_events: Annotated[
        int,
        typer.Option("--changes", min=1, help="Change events (shuffled; some twice, some invalid)."),
    ] = 300,
    faults: Annotated[
        str,
        typer.Option(
            "--faults",
            help="Faults while sending and settling, as for `up --faults` (default: crash=0.1,throttle=0.05,"
            "aws-errors=0.05,duplicate=0.1,seed=7; crash=0 for none).",
        ),
    ] = "",
    seed: Annotated[int, typer.Option(help="Seed of the files and events (faults: seed= in --faults).")] = 7,
    template: TemplateOpt = Path("template.yaml"),
    port: PortOpt = 4566,
    state_dir: StateOpt = Path(".pipeline"),
    timeout: Annotated[float, typer.Option(help="Seconds each wait may take at most.")] = 600.0,
    workers: WorkersOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Files and change events under injected faults, then a redrive of every failure queue: exits non-zero
    unless nothing was lost, duplicated or left parked and the public JSON equals the model."""
    from embedded_aws.faults import Faults
    from pipeline.cli import chaos as chaos_run
    from pipeline.cli import uploads

    screen = errors if json_out else console
    try:
        injecting = Faults.parse(faults or chaos_run.DEFAULT_FAULTS)
    except EmbeddedAwsError as exc:
        raise _fail(exc) from exc
    making = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chaos-plan")
    planned = making.submit(lambda: chaos_run.plan_files(files, seed))
    making.shutdown(wait=False)
    events = chaos_run.plan_changes(change_events, seed)
    aws = _start(port, state_dir, show_invocations=False, workers=workers, screen=screen)
    try:
        with screen.status(f"Deploying {template} …"):
            deployed = aws.deploy(template, "pipeline")
        stack = uploads.Stack(deployed.outputs, aws.endpoint_url, aws.region)
        with screen.status("Chaos …") as status:
            report = chaos_run.run(
                aws,
                stack,
                "pipeline",
                planned.result(),
                events,
                injecting,
                timeout_s=timeout,
                say=lambda text: _say(screen, status, text),
            )
    except (PipelineError, EmbeddedAwsError) as exc:
        raise _fail(exc) from exc
    finally:
        aws.stop()
    if json_out:
        print_json(report.to_json())
    else:
        _chaos_tables(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _say(screen: Console, status: Any, text: str) -> None:
    screen.print(f"  {text}")
    status.update(f"{text} …")


def _done_at(report: Any) -> str:
    """`(files done at 80.1 s, records at 60.2 s)`, for what was done before the stack settled."""
    parts = [
        f"{what} at {seconds:.1f} s"
        for what, seconds in (("files done", report.files_done_s), ("records", report.records_done_s))
        if seconds is not None
    ]
    return f" ({', '.join(parts)})" if parts else ""


def _chaos_tables(report: Any) -> None:
    """The chaos report in 80 columns: what went in, what the faults did, what came out."""
    table = Table(title="Chaos: what went in and what came out", title_justify="left", show_header=False)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    injected = ", ".join(f"{kind} {count}" for kind, count in report.injected.items())
    parked = ", ".join(f"{name} {count}" for name, count in report.parked.items()) or "none"
    rows = [
        ("Files", f"{report.files} ({report.bad_files} bad, {report.reuploads} new versions)"),
        (
            "Change events",
            f"{report.change_events} on {report.records} records ({report.duplicate_events} sent twice, "
            f"{report.invalid_events} invalid)",
        ),
        ("Faults", report.faults),
        ("Injected", injected),
        ("Sent in", f"{report.send_s:.1f} s"),
        ("Settled in", f"{report.settle_s:.1f} s after the last send{_done_at(report)}"),
        ("Parked", parked),
        ("Recovered", f"{report.recovered} by redrive, in {report.recover_s:.1f} s"),
        ("Published", f"{report.published} files; {report.quarantined} quarantined"),
        ("Lost", str(len(report.lost))),
        ("Duplicated", f"{len(report.duplicated)} items with a version twice"),
        ("Wrong outcome", str(len(report.wrong))),
        ("Still parked", ", ".join(f"{n} {c}" for n, c in report.still_parked.items()) or "none"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for line in [*report.lost, *report.wrong, *report.duplicated, *report.redrive_failures]:
        errors.print(f"[red]✗[/] {escape(line)}")
    for line in report.failed_workflows:
        errors.print(f"  workflow {escape(line)}")
    if report.ok:
        console.print("[green]✓[/] nothing lost, nothing duplicated; the public JSON equals the model.")


@app.command()
def cost(
    files: Annotated[int, typer.Option(min=0, help="Files uploaded a month.")] = 1_000_000,
    changes: Annotated[int, typer.Option(min=0, help="Change events a month.")] = 0,
    notifications: Annotated[int, typer.Option(min=0, help="Email/SMS deliveries a month.")] = 0,
    gets: Annotated[int, typer.Option(min=0, help="Public GETs through CloudFront a month.")] = 0,
    workflow_type: Annotated[
        str | None, typer.Option("--workflow-type", help="EXPRESS or STANDARD (default: the template's).")
    ] = None,
    template: TemplateOpt = Path("template.yaml"),
    param: ParamOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
) -> None:
    """Estimate a month's AWS bill from the template's settings, a usage profile and list prices."""
    from pipeline.cli import cost as costing

    try:
        costing.run(
            template,
            _parameters(param),
            costing.Profile(files, changes, notifications, gets),
            workflow_type=workflow_type,
            json_output=json_output,
            console=console,
        )
    except (PipelineError, EmbeddedAwsError) as exc:
        raise _fail(exc) from exc


if __name__ == "__main__":
    app()
