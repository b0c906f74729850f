"""`pipeline cost`: what a month of the pipeline costs on AWS, from the template's own settings.

Three parts: `read_template` turns the SAM template into the facts that drive cost (each function's memory,
architecture and handler, each queue's consumer and batch size, which topic feeds which queue, the path a
file's and a change's execution takes through its state machine); `estimate` is a pure model from those
facts, a usage profile, assumptions and list prices (`prices.json`) to line items; `tables` and `as_json`
show them. Only the happy path is modelled: no retries, refusals or cold starts; free tiers are ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from pipeline.errors import PipelineError

PRICES_PATH = Path(__file__).with_name("prices.json")
#: The two workflows the usage profile drives, by logical id in the template.
FILE_WORKFLOW = "FileWorkflow"
CHANGE_WORKFLOW = "ChangeWorkflow"
WORKFLOW_TYPES = ("EXPRESS", "STANDARD")
GB = 1024**3


@dataclass(frozen=True)
class HandlerProfile:
    """What one invocation of a handler does: assumed mean duration and the AWS requests it makes.

    Durations are assumptions (warm, on arm64 at the template's memory), informed by the local figures in
    the README and DESIGN.md D10; requests are read from the handler's code (`pipeline/handlers`, adapters).
    Batch consumers (SQS) take `ms` per invocation plus `ms_per_message`, and their counts are per message.
    """

    ms: float
    ms_per_message: float = 0.0
    s3_put: float = 0.0
    s3_get: float = 0.0  # GET and HEAD
    wru: float = 0.0  # DynamoDB write request units (transactional items count 2)
    rru: float = 0.0  # DynamoDB read request units (strongly consistent, items under 4 KB)
    sns_publish: float = 0.0
    thumbnails: bool = False  # one S3 PUT per thumbnail width


HANDLERS: dict[str, HandlerProfile] = {
    "pipeline.handlers.start_workflow.handler": HandlerProfile(ms=40, ms_per_message=25),
    "pipeline.handlers.validate.handler": HandlerProfile(ms=80, s3_get=2),  # HEAD, then GET
    "pipeline.handlers.allocate_version.handler": HandlerProfile(ms=30, wru=6, rru=1),  # 3-item transaction
    "pipeline.handlers.thumbnails.handler": HandlerProfile(ms=400, s3_get=1, thumbnails=True),
    "pipeline.handlers.extract_metadata.handler": HandlerProfile(ms=60, s3_get=1),
    "pipeline.handlers.record_version.handler": HandlerProfile(ms=40, wru=6),  # 2-item transaction + update
    "pipeline.handlers.publish.handler": HandlerProfile(
        ms=120, s3_put=4, s3_get=3, rru=2
    ),  # 3 read-modify-writes
    "pipeline.handlers.quarantine.handler": HandlerProfile(ms=100, s3_put=2, s3_get=1),
    "pipeline.handlers.start_change_workflow.handler": HandlerProfile(ms=40, ms_per_message=25),
    "pipeline.handlers.validate_change.handler": HandlerProfile(ms=10),
    "pipeline.handlers.record_change.handler": HandlerProfile(ms=25, wru=2, rru=1),
    "pipeline.handlers.publish_change.handler": HandlerProfile(ms=80, s3_put=2, s3_get=2, rru=1),
    "pipeline.handlers.reject_change.handler": HandlerProfile(ms=40, s3_put=1),
    "pipeline.handlers.archive.handler": HandlerProfile(ms=20, ms_per_message=25, s3_put=1),
    "pipeline.handlers.notify.handler": HandlerProfile(ms=30, ms_per_message=40, wru=2, sns_publish=1),
}
#: A handler the table does not know (a function a user added): assumed, and said so in the output.
UNKNOWN_HANDLER = HandlerProfile(ms=100)


@dataclass(frozen=True)
class Assumptions:
    """What the template does not say; each is printed with the estimate."""

    file_mb: float = 3.0  # mean uploaded file
    messages_per_batch: float = 3.0  # mean SQS batch a consumer receives (capped by the template's BatchSize)
    state_overhead_ms: float = 20.0  # Step Functions' own time per state, on top of the Lambda durations
    express_memory_mb: int = 64  # an Express execution of these small definitions and pointer payloads
    thumbnail_aspect: float = 2 / 3  # height / width
    thumbnail_bytes_per_pixel: dict[str, float] = field(default_factory=lambda: {"webp": 0.1, "jpeg": 0.2})
    documents_kb_per_file: float = 4.0  # public JSON written per file (version + item), index growth ignored
    item_kb_per_version: float = 2.0  # DynamoDB version record with its metadata
    change_kb: float = 1.0  # a change event: its DynamoDB record, its public document, its archived copy
    event_kb: float = 2.0  # a raw S3 or change event kept by the Archive function
    log_kb_per_invocation: float = 1.5  # START/END/REPORT, Powertools log and metric lines
    sfn_log_kb_per_event: float = 0.5  # 2 KB with execution data
    cache_hit_ratio: float = 0.9  # CloudFront GETs answered at the edge
    kb_per_get: float = 40.0  # mean public response (JSON and thumbnails)
    sms_share: float = 0.0  # share of notifications sent as SMS (the rest by email)
    idle_polls_per_queue: float = 648_000  # Lambda's 5 long pollers per mapped queue, one 20 s poll each
    traced_share: float = 1.0  # X-Ray's default rule samples 1/s + 5%: about everything below 1 event/s

    def handler(self, handler: str) -> HandlerProfile:
        """What `handler` is assumed to do per invocation."""
        return HANDLERS.get(handler, UNKNOWN_HANDLER)


@dataclass(frozen=True)
class Profile:
    """A month of use."""

    files: int = 1_000_000
    changes: int = 0
    notifications: int = 0  # email or SMS deliveries to subscribers
    gets: int = 0  # public GETs through CloudFront


# --- The template's facts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    memory_mb: int
    architecture: str
    timeout_s: int


@dataclass(frozen=True)
class Consumer:
    queue: str
    function: str
    batch_size: int


@dataclass(frozen=True)
class Task:
    """One state of a path that calls something: a Lambda function, an SNS topic, an SQS queue."""

    kind: str  # lambda | sns | sqs | other
    target: str  # logical id


@dataclass(frozen=True)
class Parallel:
    branches: tuple[tuple[Step, ...], ...]


Step = Task | Parallel | None  # None: a state that calls nothing (Choice, Succeed, Pass)


@dataclass(frozen=True)
class Machine:
    logical_id: str
    workflow_type: str
    steps: tuple[Step, ...]  # the happy path, one entry per state entered outside Parallel branches
    log_level: str
    log_execution_data: bool


@dataclass(frozen=True)
class Facts:
    """What the template says that drives cost."""

    functions: dict[str, Function]
    consumers: dict[str, Consumer]  # by queue
    subscriptions: dict[str, tuple[str, ...]]  # topic -> SQS queues subscribed
    starters: dict[str, str]  # state machine -> the function that starts it
    machines: dict[str, Machine]
    thumbnail_widths: tuple[int, ...]
    thumbnail_format: str
    alarms: int
    dashboards: int
    kms_keys: int
    pitr_tables: tuple[str, ...]

    def entry_topics(self, machine: str) -> tuple[str, ...]:
        """The topics whose messages start `machine` (through its starter's queue)."""
        starter = self.starters.get(machine)
        queues = {q for q, c in self.consumers.items() if c.function == starter}
        return tuple(t for t, subscribed in self.subscriptions.items() if queues & set(subscribed))


def _refuse(message: str) -> PipelineError:
    return PipelineError(message, reason="cost_model_unsupported")


class _Resolver:
    """Enough of CloudFormation's intrinsics to read settings: Ref to parameters and resources, GetAtt."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.resources: dict[str, Any] = template["Resources"]
        self.parameters = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in (template.get("Parameters") or {}).items()
        }

    def value(self, expr: Any) -> Any:
        if isinstance(expr, dict) and len(expr) == 1:
            ((name, arg),) = expr.items()
            if name == "Ref":
                return self.parameters.get(arg, arg)  # a resource's Ref: its logical id stands for it
            if name == "Fn::GetAtt":
                return arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
        return expr

    def logical_id(self, expr: Any) -> str | None:
        value = self.value(expr)
        return value if isinstance(value, str) and value in self.resources else None


def read_template(path: Path, parameters: dict[str, str] | None = None) -> Facts:
    """The cost-driving facts of a SAM template, with its parameters (defaults unless overridden)."""
    from embedded_aws.template import load_template

    template = load_template(path)
    resolve = _Resolver(template, parameters or {})
    resources: dict[str, Any] = template["Resources"]
    globals_fn: dict[str, Any] = (template.get("Globals") or {}).get("Function") or {}

    functions: dict[str, Function] = {}
    consumers: dict[str, Consumer] = {}
    starters: dict[str, str] = {}
    subscriptions: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        kind = resource.get("Type", "")
        props: dict[str, Any] = resource.get("Properties") or {}
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            merged = {**globals_fn, **props} if kind == "AWS::Serverless::Function" else props
            architectures = resolve.value(merged.get("Architectures")) or ["x86_64"]
            functions[logical_id] = Function(
                logical_id,
                str(resolve.value(merged.get("Handler", ""))),
                int(resolve.value(merged.get("MemorySize", 128))),
                str(resolve.value(architectures[0])),
                int(resolve.value(merged.get("Timeout", 3))),
            )
            variables = ((merged.get("Environment") or {}).get("Variables")) or {}
            for value in variables.values():
                target = resolve.logical_id(value)
                if target and resources[target].get("Type", "").endswith("StateMachine"):
                    starters[target] = logical_id
            for event in (props.get("Events") or {}).values():
                if event.get("Type") == "SQS":
                    queue = resolve.logical_id(event["Properties"]["Queue"])
                    size = int(resolve.value(event["Properties"].get("BatchSize", 10)))
                    if queue:
                        consumers[queue] = Consumer(queue, logical_id, size)
        elif kind == "AWS::Lambda::EventSourceMapping":
            queue = resolve.logical_id(props.get("EventSourceArn"))
            function = resolve.logical_id(props.get("FunctionName"))
            if queue and function:
                consumers[queue] = Consumer(queue, function, int(resolve.value(props.get("BatchSize", 10))))
        elif kind == "AWS::SNS::Subscription" and resolve.value(props.get("Protocol")) == "sqs":
            topic, queue = (
                resolve.logical_id(props.get("TopicArn")),
                resolve.logical_id(props.get("Endpoint")),
            )
            if topic and queue:
                subscriptions.setdefault(topic, []).append(queue)
        elif kind == "AWS::SNS::Topic":
            for inline in props.get("Subscription") or []:
                queue = resolve.logical_id(inline.get("Endpoint"))
                if resolve.value(inline.get("Protocol")) == "sqs" and queue:
                    subscriptions.setdefault(logical_id, []).append(queue)

    machines = {
        logical_id: _machine(logical_id, resource.get("Properties") or {}, path.parent, resolve)
        for logical_id, resource in resources.items()
        if resource.get("Type") in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
    }
    for needed in (FILE_WORKFLOW, CHANGE_WORKFLOW):
        if needed not in machines or needed not in starters:
            raise _refuse(
                f"{path} has no state machine {needed} started by a function: the cost model follows a "
                f"file through {FILE_WORKFLOW} and a change through {CHANGE_WORKFLOW}."
            )
    widths = tuple(int(w) for w in resolve.parameters.get("ThumbnailWidths", "").split(",") if w.strip())
    return Facts(
        functions=functions,
        consumers=consumers,
        subscriptions={t: tuple(qs) for t, qs in subscriptions.items()},
        starters=starters,
        machines=machines,
        thumbnail_widths=widths,
        thumbnail_format=resolve.parameters.get("ThumbnailFormat", "webp"),
        alarms=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"),
        dashboards=sum(1 for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Dashboard"),
        kms_keys=sum(1 for r in resources.values() if r.get("Type") == "AWS::KMS::Key"),
        pitr_tables=tuple(
            logical_id
            for logical_id, r in resources.items()
            if r.get("Type") == "AWS::DynamoDB::Table"
            and str(
                resolve.value(
                    ((r.get("Properties") or {}).get("PointInTimeRecoverySpecification") or {}).get(
                        "PointInTimeRecoveryEnabled", False
                    )
                )
            ).lower()
            == "true"
        ),
    )


def _machine(logical_id: str, props: dict[str, Any], base: Path, resolve: _Resolver) -> Machine:
    definition = props.get("Definition")
    uri = props.get("DefinitionUri")
    if definition is None and isinstance(uri, str):
        try:
            text = (base / uri).read_text()
            definition = json.loads(text) if uri.endswith(".json") else _yaml(text)
        except (OSError, ValueError) as exc:
            raise _refuse(f"State machine {logical_id}'s DefinitionUri {uri} cannot be read: {exc}.") from exc
    if not isinstance(definition, dict):
        raise _refuse(f"State machine {logical_id} has no Definition or local DefinitionUri to read.")
    substitutions = {
        name: resolve.logical_id(value) or str(resolve.value(value))
        for name, value in (props.get("DefinitionSubstitutions") or {}).items()
    }
    logging = props.get("Logging") or {}
    return Machine(
        logical_id,
        str(resolve.value(props.get("Type", "STANDARD"))).upper(),
        _walk(definition["States"], definition["StartAt"], substitutions),
        str(resolve.value(logging.get("Level", "OFF"))),
        str(resolve.value(logging.get("IncludeExecutionData", False))).lower() == "true",
    )


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _walk(states: dict[str, Any], start: str, substitutions: dict[str, str]) -> tuple[Step, ...]:
    """The states a successful run enters: `Next` to the end; a Choice takes its Default (the usual case)."""
    steps: list[Step] = []
    name: str | None = start
    while name is not None:
        if len(steps) > 1000:
            raise _refuse(
                f"The state machine loops through {name}: the cost model follows acyclic paths only."
            )
        state = states[name]
        kind = state.get("Type")
        if kind == "Parallel":
            steps.append(
                Parallel(tuple(_walk(b["States"], b["StartAt"], substitutions) for b in state["Branches"]))
            )
        elif kind == "Task":
            steps.append(_task(state, substitutions))
        else:
            steps.append(None)
        if kind in ("Succeed", "Fail") or state.get("End"):
            name = None
        elif kind == "Choice":
            name = state.get("Default") or state["Choices"][0]["Next"]
        else:
            name = state["Next"]
    return tuple(steps)


def _task(state: dict[str, Any], substitutions: dict[str, str]) -> Task:
    resource = str(state.get("Resource", ""))
    params = state.get("Parameters") or {}

    def target(value: Any) -> str:
        text = str(value)
        if text.startswith("${") and text.endswith("}"):
            return substitutions.get(text[2:-1], text)
        return text

    if resource.startswith("arn:aws:states:::lambda:invoke"):
        return Task("lambda", target(params.get("FunctionName", "")))
    if resource.startswith("arn:aws:states:::sns:publish"):
        return Task("sns", target(params.get("TopicArn", "")))
    if resource.startswith("arn:aws:states:::sqs:sendMessage"):
        return Task("sqs", target(params.get("QueueUrl", "")))
    if ":lambda:" in resource or (resource.startswith("${") and resource.endswith("}")):
        return Task("lambda", target(resource))
    return Task("other", resource)


def transitions(steps: tuple[Step, ...]) -> int:
    """States entered: every state, and inside a Parallel every branch's states as well."""
    return sum(
        1 + sum(transitions(branch) for branch in step.branches) if isinstance(step, Parallel) else 1
        for step in steps
    )


def tasks(steps: tuple[Step, ...]) -> list[Task]:
    found: list[Task] = []
    for step in steps:
        if isinstance(step, Parallel):
            for branch in step.branches:
                found.extend(tasks(branch))
        elif isinstance(step, Task):
            found.append(step)
    return found


def duration_ms(steps: tuple[Step, ...], facts: Facts, assume: Assumptions) -> float:
    """An execution's time: Lambda durations in sequence, a Parallel as long as its longest branch."""
    total = 0.0
    for step in steps:
        total += assume.state_overhead_ms
        if isinstance(step, Parallel):
            total += max(duration_ms(branch, facts, assume) for branch in step.branches)
        elif isinstance(step, Task) and step.kind == "lambda":
            total += assume.handler(facts.functions[step.target].handler).ms
    return total


# --- Prices --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float
    per: int
    unit: str
    source: str
    note: str = ""

    @property
    def each(self) -> float:
        return self.usd / self.per

    def label(self) -> str:
        per = {1: "", 1000: "1K ", 10_000: "10K ", 100_000: "100K ", 1_000_000: "1M "}.get(self.per)
        per = per if per is not None else f"{self.per:,} "
        whole, _, cents = f"{self.usd:.10f}".rstrip("0").partition(".")
        return f"${whole}.{cents.ljust(2, '0')}/{per}{self.unit}"


@dataclass(frozen=True)
class Prices:
    region: str
    checked: str
    how_checked: str
    items: dict[str, Price]

    def __getitem__(self, key: str) -> Price:
        return self.items[key]


def load_prices(path: Path = PRICES_PATH) -> Prices:
    """The list prices, with the date they were checked and their region."""
    try:
        data = json.loads(path.read_text())
        return Prices(
            region=data["region"],
            checked=data["checked"],
            how_checked=data.get("how_checked", ""),
            items={key: Price(**value) for key, value in data["prices"].items()},
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"Cannot read the price list {path}: {exc}. Restore it from git or fix its JSON.",
            reason="cost_model_unsupported",
        ) from exc


# --- The model -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float
    price_key: str
    usd: float


@dataclass
class Estimate:
    workflow_type: str
    profile: Profile
    items: list[LineItem]
    assumptions: dict[str, Any]
    notes: list[str]
    prices: Prices

    @property
    def total(self) -> float:
        return sum(item.usd for item in self.items)

    def by_service(self) -> dict[str, list[LineItem]]:
        grouped: dict[str, list[LineItem]] = {}
        for item in self.items:
            grouped.setdefault(item.service, []).append(item)
        return grouped


class _Meter:
    """Usage quantities by (service, item, price), summed as the events flow through the stack."""

    def __init__(self) -> None:
        self.quantities: dict[tuple[str, str, str], float] = {}

    def add(self, service: str, item: str, price_key: str, quantity: float) -> None:
        if quantity:
            key = (service, item, price_key)
            self.quantities[key] = self.quantities.get(key, 0.0) + quantity


def estimate(
    facts: Facts,
    profile: Profile,
    prices: Prices,
    assume: Assumptions | None = None,
    workflow_type: str | None = None,
) -> Estimate:
    """A month's line items for `profile`: pure, from the template's facts, the assumptions and prices."""
    assume = assume or Assumptions()
    if workflow_type is not None and workflow_type.upper() not in WORKFLOW_TYPES:
        raise _refuse(f"Workflow type {workflow_type!r} is neither EXPRESS nor STANDARD.")
    meter = _Meter()
    notes: list[str] = []
    flow = _Flow(facts, assume, meter, workflow_type.upper() if workflow_type else None, notes)
    for machine, count in ((FILE_WORKFLOW, profile.files), (CHANGE_WORKFLOW, profile.changes)):
        for topic in facts.entry_topics(machine)[:1]:
            flow.publish(topic, count)
    flow.storage(profile)
    flow.deliveries(profile.notifications)
    flow.gets(profile.gets)
    flow.fixed()
    items = [
        LineItem(service, item, quantity, key, quantity * prices[key].each)
        for (service, item, key), quantity in meter.quantities.items()
    ]
    types = {m.workflow_type for m in facts.machines.values()}
    return Estimate(
        workflow_type=(workflow_type or "/".join(sorted(types))).upper(),
        profile=profile,
        items=items,
        assumptions=_assumption_rows(facts, assume),
        notes=sorted(set(notes)),
        prices=prices,
    )


class _Flow:
    """Follows events through topics, queues, consumers and state machines, metering what each does."""

    def __init__(
        self, facts: Facts, assume: Assumptions, meter: _Meter, workflow_type: str | None, notes: list[str]
    ) -> None:
        self.facts, self.assume, self.meter, self.notes = facts, assume, meter, notes
        self.workflow_type = workflow_type
        self.depth = 0

    def publish(self, topic: str, count: float) -> None:
        """`count` messages published to `topic`, and everything they cause downstream."""
        if not count:
            return
        self.depth += 1
        if self.depth > 10:
            raise _refuse(f"Topic {topic} feeds back into itself: the cost model cannot follow a cycle.")
        self.meter.add("SNS", "publishes", "sns.publish", count)
        for queue in self.facts.subscriptions.get(topic, ()):
            self.meter.add("SNS", "deliveries to SQS", "sns.delivery.sqs", count)
            self.queue(queue, count)
        self.depth -= 1

    def queue(self, queue: str, count: float) -> None:
        consumer = self.facts.consumers.get(queue)
        if consumer is None:
            self.meter.add("SQS", f"{queue} sends", "sqs.request", count)
            return
        batch = min(self.assume.messages_per_batch, consumer.batch_size)
        # send, then one receive and one delete-batch call per batch; the pipeline's own consumers also hide
        # their batch first (a ChangeMessageVisibilityBatch call: pipeline/handlers/batch.py)
        ours = self.facts.functions[consumer.function].handler in HANDLERS
        per_batch = 3 if ours else 2
        self.meter.add("SQS", "send, receive, delete", "sqs.request", count * (1 + per_batch / batch))
        invocations = count / batch
        self.invoke(consumer.function, invocations, messages=count)
        self.meter.add("X-Ray", "traces", "xray.trace", invocations * self.assume.traced_share)
        for machine, starter in self.facts.starters.items():
            if starter == consumer.function:
                self.execute(machine, count)

    def invoke(self, function_id: str, invocations: float, *, messages: float | None = None) -> None:
        function = self.facts.functions[function_id]
        profile = HANDLERS.get(function.handler)
        if profile is None:
            profile = UNKNOWN_HANDLER
            self.notes.append(
                f"{function_id}: handler {function.handler} unknown, {profile.ms:.0f} ms assumed"
            )
        per_call = messages / invocations if messages else 1.0
        ms = profile.ms + profile.ms_per_message * per_call
        gb_s = invocations * ms / 1000 * function.memory_mb / 1024
        arch = function.architecture if function.architecture in ("arm64", "x86_64") else "x86_64"
        self.meter.add(
            "Lambda", f"{function_id.removesuffix('Function')} GB-s", f"lambda.gb_second.{arch}", gb_s
        )
        self.meter.add("Lambda", "requests (all functions)", "lambda.request", invocations)
        self.meter.add(
            "CloudWatch",
            "Lambda logs GB",
            "logs.ingest",
            invocations * self.assume.log_kb_per_invocation / 1024**2,
        )
        units = messages if messages is not None else invocations  # what a handler does, it does per message
        self.meter.add("S3", "PUT requests", "s3.put", units * profile.s3_put)
        self.meter.add("S3", "GET/HEAD requests", "s3.get", units * profile.s3_get)
        if profile.thumbnails:
            self.meter.add("S3", "PUT requests", "s3.put", units * len(self.facts.thumbnail_widths))
        self.meter.add("DynamoDB", "write request units", "dynamodb.write_request_unit", units * profile.wru)
        self.meter.add("DynamoDB", "read request units", "dynamodb.read_request_unit", units * profile.rru)
        if profile.sns_publish:
            self.meter.add("SNS", "publishes", "sns.publish", units * profile.sns_publish)

    def execute(self, machine_id: str, count: float) -> None:
        machine = self.facts.machines[machine_id]
        kind = self.workflow_type or machine.workflow_type
        steps = machine.steps
        entered = transitions(steps)
        label = "Step Functions"
        if kind == "STANDARD":
            self.meter.add(label, f"{machine_id} transitions", "sfn.standard.transition", count * entered)
        else:
            billed_ms = math.ceil(duration_ms(steps, self.facts, self.assume) / 100) * 100
            chunks = math.ceil(self.assume.express_memory_mb / 64) * 64
            self.meter.add(label, f"{machine_id} requests", "sfn.express.request", count)
            gb_s = count * billed_ms / 1000 * chunks / 1024
            self.meter.add(label, f"{machine_id} GB-s", "sfn.express.gb_second", gb_s)
        if machine.log_level == "ALL":
            kb = 2.0 if machine.log_execution_data else self.assume.sfn_log_kb_per_event
            events = 2 * entered + 2  # entered and exited per state, plus the execution's start and end
            self.meter.add("CloudWatch", "workflow logs GB", "logs.ingest", count * events * kb / 1024**2)
        for task in tasks(steps):
            if task.kind == "lambda":
                self.invoke(task.target, count)
            elif task.kind == "sns":
                self.publish(task.target, count)
            elif task.kind == "sqs":
                self.meter.add("SQS", "send, receive, delete", "sqs.request", count)

    def storage(self, profile: Profile) -> None:
        """Storage added this month, priced for one month: each month's uploads add this much for good."""
        assume, facts = self.assume, self.facts
        file_gb = profile.files * assume.file_mb * 1024**2 / GB
        self.meter.add("S3", "ingest storage GB-mo", "s3.storage.standard", file_gb)
        self.meter.add(
            "S3",
            "backup replica GB-mo",
            "s3.storage.standard_ia",
            max(file_gb, profile.files * 128 / 1024**2),
        )
        self.meter.add("S3", "replica PUTs (IA)", "s3.put.standard_ia", profile.files)
        self.meter.add(
            "S3", "PUT requests", "s3.put", profile.files
        )  # the upload itself, billed to the owner
        per_pixel = assume.thumbnail_bytes_per_pixel.get(facts.thumbnail_format, 0.15)
        thumbs = sum(w * w * assume.thumbnail_aspect * per_pixel for w in facts.thumbnail_widths)
        public_kb = thumbs / 1024 + assume.documents_kb_per_file
        public_gb = (profile.files * public_kb + profile.changes * assume.change_kb) / 1024**2
        self.meter.add("S3", "public storage GB-mo", "s3.storage.standard", public_gb)
        events = profile.files + profile.changes
        self.meter.add(
            "S3", "archive storage GB-mo", "s3.storage.standard", events * assume.event_kb / 1024**2
        )
        table_gb = (profile.files * assume.item_kb_per_version + profile.changes * assume.change_kb) / 1024**2
        self.meter.add("DynamoDB", "storage GB-mo", "dynamodb.storage", table_gb)
        if facts.pitr_tables:
            self.meter.add("DynamoDB", "PITR backup GB-mo", "dynamodb.pitr", table_gb)

    def deliveries(self, notifications: int) -> None:
        sms = notifications * self.assume.sms_share
        self.meter.add("SNS", "email deliveries", "sns.delivery.email", notifications - sms)
        self.meter.add("SNS", "SMS deliveries (US)", "sns.delivery.sms_us", sms)

    def gets(self, gets: int) -> None:
        self.meter.add("CloudFront", "HTTPS requests", "cloudfront.https_request", gets)
        self.meter.add(
            "CloudFront",
            "transfer out GB",
            "cloudfront.transfer_out",
            gets * self.assume.kb_per_get / 1024**2,
        )
        self.meter.add("S3", "GET/HEAD requests", "s3.get", gets * (1 - self.assume.cache_hit_ratio))

    def fixed(self) -> None:
        """Monthly costs that do not grow with use."""
        self.meter.add("CloudWatch", "alarms", "cloudwatch.alarm", self.facts.alarms)
        self.meter.add("CloudWatch", "dashboards", "cloudwatch.dashboard", self.facts.dashboards)
        self.meter.add("KMS", "customer managed keys", "kms.key", self.facts.kms_keys)
        polls = len(self.facts.consumers) * self.assume.idle_polls_per_queue
        self.meter.add("SQS", "Lambda's idle long polls", "sqs.request", polls)


def _assumption_rows(facts: Facts, assume: Assumptions) -> dict[str, Any]:
    rows: dict[str, Any] = {k: v for k, v in asdict(assume).items() if k != "thumbnail_bytes_per_pixel"}
    rows["thumbnail_bytes_per_pixel"] = assume.thumbnail_bytes_per_pixel.get(facts.thumbnail_format, 0.15)
    rows["thumbnails"] = f"{','.join(map(str, facts.thumbnail_widths))} px {facts.thumbnail_format}"
    rows["handler_ms"] = {
        f.logical_id: assume.handler(f.handler).ms
        + assume.handler(f.handler).ms_per_message
        * min(assume.messages_per_batch, _batch(facts, f.logical_id))
        for f in facts.functions.values()
    }
    rows["functions"] = {
        f.logical_id: f"{f.memory_mb} MB {f.architecture}, timeout {f.timeout_s} s"
        for f in facts.functions.values()
    }
    rows["paths"] = {
        m.logical_id: {
            "states_entered": transitions(m.steps),
            "lambda_calls": sum(1 for t in tasks(m.steps) if t.kind == "lambda"),
            "duration_ms": round(duration_ms(m.steps, facts, assume)),
        }
        for m in facts.machines.values()
    }
    return rows


def _batch(facts: Facts, function_id: str) -> float:
    sizes = [c.batch_size for c in facts.consumers.values() if c.function == function_id]
    return float(min(sizes)) if sizes else 1.0


# --- Output --------------------------------------------------------------------------------------------


def _quantity(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}" if value >= 0.001 else f"{value:.2e}"


def tables(result: Estimate) -> list[Table]:
    """One table per service, then the totals: each fits an 80-column terminal."""
    out: list[Table] = []
    grouped = result.by_service()
    for service, items in sorted(grouped.items(), key=lambda kv: -sum(i.usd for i in kv[1])):
        table = Table(title=service, title_justify="left")
        table.add_column("Item", width=26, overflow="fold")
        table.add_column("Quantity", width=10, justify="right")
        table.add_column("List price", width=21, overflow="fold")
        table.add_column("USD", width=8, justify="right")
        for item in sorted(items, key=lambda i: -i.usd):
            price = result.prices[item.price_key]
            table.add_row(item.item, _quantity(item.quantity), price.label(), f"{item.usd:,.2f}")
        out.append(table)
    total = Table(
        title=f"Total per month, {result.workflow_type} workflows: ${result.total:,.2f}",
        title_justify="left",
    )
    total.add_column("Service", width=26 + 3 + 10)
    total.add_column("USD", width=21, justify="right")
    total.add_column("Share", width=8, justify="right")
    for service, items in sorted(grouped.items(), key=lambda kv: -sum(i.usd for i in kv[1])):
        usd = sum(i.usd for i in items)
        share = usd / result.total if result.total else 0.0
        total.add_row(service, f"{usd:,.2f}", f"{share:.0%}")
    out.append(total)
    return out


def footer(result: Estimate) -> list[str]:
    """The profile, the prices' date and region, and every assumption, for below the tables."""
    p, a = result.profile, result.assumptions
    lines = [
        f"Profile: {p.files:,} files, {p.changes:,} changes, {p.notifications:,} notifications, "
        f"{p.gets:,} public GETs a month.",
        f"List prices of {result.prices.region}, checked {result.prices.checked} (pipeline/cli/prices.json); "
        "free tiers ignored; happy path only (no retries, refusals, cold starts).",
        f"Thumbnails {a['thumbnails']}; mean file {a['file_mb']} MB; {a['messages_per_batch']:g} messages "
        f"per SQS batch; {a['state_overhead_ms']:g} ms per state; "
        f"Express memory {a['express_memory_mb']} MB.",
        "Storage lines are what one month of uploads adds, priced for one month; it accumulates.",
        "Paths: "
        + "; ".join(
            f"{name} {v['states_entered']} states, {v['lambda_calls']} Lambda calls, {v['duration_ms']} ms"
            for name, v in a["paths"].items()
        )
        + ".",
        "Assumed handler ms: "
        + ", ".join(f"{k.removesuffix('Function')} {v:g}" for k, v in a["handler_ms"].items()),
    ]
    return lines + result.notes


def as_json(result: Estimate) -> dict[str, Any]:
    """The estimate for scripts: the same line items and totals the tables show."""
    services = {
        service: round(sum(i.usd for i in items), 6) for service, items in result.by_service().items()
    }
    return {
        "workflow_type": result.workflow_type,
        "profile": asdict(result.profile),
        "prices": {"region": result.prices.region, "checked": result.prices.checked, "free_tiers": "ignored"},
        "items": [
            {
                "service": i.service,
                "item": i.item,
                "quantity": i.quantity,
                "price": result.prices[i.price_key].label(),
                "price_key": i.price_key,
                "usd": round(i.usd, 6),
            }
            for i in result.items
        ],
        "services": services,
        "total_usd": round(result.total, 6),
        "assumptions": result.assumptions,
        "notes": result.notes,
    }


def run(
    template: Path,
    parameters: dict[str, str],
    profile: Profile,
    *,
    workflow_type: str | None,
    json_output: bool,
    console: Any,
) -> Estimate:
    """`pipeline cost`: read the template and prices, estimate, print tables (or JSON)."""
    result = estimate(
        read_template(template, parameters), profile, load_prices(), workflow_type=workflow_type
    )
    if json_output:
        console.out(json.dumps(as_json(result), indent=2), highlight=False)  # never wrapped, unlike print
        return result
    for table in tables(result):
        console.print(table)
    for line in footer(result):
        console.print(line, highlight=False)
    return result
