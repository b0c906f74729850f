"""The embedded AWS: moto in server mode plus the local Lambda runtime, event source mappings and outbox.

One process runs it all (DESIGN.md D2): moto's server on 127.0.0.1:PORT, so `aws --endpoint-url`,
`awslocal` and boto3 work unchanged; Lambda code in worker processes of its own; SQS mappings polled as
Lambda does; email and SMS deliveries written to an outbox file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import os
import socket
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

# isort: split
from embedded_aws import botocore_data  # noqa: F401 - before any moto import: see that module

# isort: split
from embedded_aws import (
    apigateway,
    cfn_models,
    custom_resources,
    endpoints,
    events,
    iam,
    lifecycle,
    limits,
    oidc,
    patches,
    sfn_interpreter,
    sqs,
    stepfunctions,
)
from embedded_aws.alarms import AlarmEvaluator
from embedded_aws.clients import client, new_client
from embedded_aws.endpoints import LocalEndpoints
from embedded_aws.errors import DeployError, EmbeddedAwsError
from embedded_aws.esm import EventSourceMappings
from embedded_aws.faults import Faults
from embedded_aws.faults import install as install_faults
from embedded_aws.formats import function_name
from embedded_aws.lambda_async import DEFAULT_MAX_AGE_S, DEFAULT_MAX_RETRIES, AsyncInvocations, AsyncSettings
from embedded_aws.runtime import FunctionConfig, LambdaRuntime
from embedded_aws.server import AwsServer, ErrorLog
from embedded_aws.template import DeployPlan, plan_deploy, warm_up

log = logging.getLogger(__name__)

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"


def poll_until(
    predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05, max_interval_s: float = 0.5
) -> Any:
    """Call `predicate` until it returns something truthy or the deadline passes; returns its last value.

    The wait between calls starts at `interval_s` and grows by half each time up to `max_interval_s`: a
    short wait is noticed at once, and a long one does not spend the embedded AWS's CPU on answering polls
    (each call is one or more requests to it)."""
    deadline = time.monotonic() + timeout_s
    interval = interval_s
    while True:
        value = predicate()
        now = time.monotonic()
        if value or now >= deadline:
            return value
        time.sleep(min(interval, deadline - now))
        interval = min(max(interval_s, max_interval_s), interval * 1.5)


class Outbox:
    """Email and SMS deliveries that would have left AWS: one JSON line each, in memory and on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def clear(self) -> None:
        """Start empty: a fresh embedded AWS has sent nothing."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")
            self._entries = []

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            with self.path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        """Read an outbox file another process wrote."""
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class DeployedStack:
    """A deployed stack as tools and tests find it: by Outputs and logical ids."""

    name: str
    status: str
    outputs: dict[str, str]
    resources: dict[str, tuple[str, str]]  # logical id → (type, physical id)
    functions: dict[str, FunctionConfig] = field(default_factory=dict)  # logical id → config
    seconds: float = 0.0

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id][1]


class EmbeddedAws:
    """Start, deploy to, and stop the embedded AWS. One per process: moto's backends are process-wide."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        host: str = "127.0.0.1",
        region: str = DEFAULT_REGION,
        state_dir: Path = Path(".pipeline"),
        workers: int | None = None,
        faults: Faults | None = None,
        enforce_iam: bool = True,
    ) -> None:
        """`workers`: invocations running at once across all functions (default CPU count + 1); `faults`: what
        to inject (see `embedded_aws.faults`; off by default, and `faults` may be set while it runs);
        `enforce_iam`: check every request against IAM as AWS does (`embedded_aws.iam`)."""
        self.enforce_iam = enforce_iam
        self.port = port
        self.host = host
        self.region = region
        self.state_dir = state_dir.resolve()
        self.endpoint_url = f"http://{host}:{port}"
        self.runtime = LambdaRuntime(self.endpoint_url, region, self.state_dir / "logs", workers=workers)
        self.outbox = Outbox(self.state_dir / "outbox.jsonl")
        self._server: Any = None
        self._mappings: EventSourceMappings | None = None
        self._async = AsyncInvocations(self.runtime, self.async_settings, self.endpoint_url, region)
        self._staged_code: dict[str, Path] = {}  # sha256 of a staged code zip → the code dir it stands for
        self.server_errors = ErrorLog()  # every 5xx answer; internal failures are bugs
        self.alarms = AlarmEvaluator()  # queue-depth alarms evaluated, their notifications published
        self.stacks: dict[str, DeployedStack] = {}
        self.endpoints = LocalEndpoints(host)  # HTTP APIs and distributions, each on a port of its own
        self.faults = faults

    @property
    def faults(self) -> Faults | None:
        """The faults being injected (None: none)."""
        return self.runtime.faults

    @faults.setter
    def faults(self, value: Faults | None) -> None:
        self.runtime.faults = value
        if self._server is not None:
            install_faults(value)  # the server, SQS and SNS seams are process-wide

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> EmbeddedAws:
        """Start moto's server and the pollers; returns self."""
        # moto's server binds in a thread and never reports a failure to bind: try the port first.
        with socket.socket() as probe:
            probe.setsockopt(
                socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
            )  # as the server binds: TIME_WAIT is fine
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise EmbeddedAwsError(
                    f"Cannot listen on {self.host}:{self.port} ({exc.strerror}). Is another `pipeline up` "
                    "running? Stop it, or pick another port with --port."
                ) from exc
        warming = threading.Thread(target=warm_up, name="embedded-aws-warm-up", daemon=True)
        warming.start()  # the SAM translator imports while the server starts; a deploy waits for it
        self.outbox.clear()
        cfn_models.install()
        endpoints.install(self.endpoints)
        lifecycle.install(self)  # functions runnable when created; stacks complete only when ready
        custom_resources.install(self)  # custom resources' requests go to their functions
        stepfunctions.install()
        sfn_interpreter.install()  # state semantics as AWS runs them (Lambda errors, SDK results, Map)
        patches.install(self)
        iam.install(iam.Authority(self.region), enforce=self.enforce_iam)
        limits.install()  # SNS/SQS message sizes as AWS counts them
        sqs.install()  # FIFO order and dedup, DLQ source of each message, DLQ redrive move tasks
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # moto's interpreter logs every caught task failure (Retry/Catch at work) at ERROR with a whole-state
        # dump; executions report their failures through the API, their history and their log groups.
        logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component").setLevel(logging.CRITICAL)
        os.environ["MOTO_PORT"] = str(self.port)  # moto's Step Functions interpreter calls back here
        self._server = AwsServer(self.host, self.port, self.server_errors)  # AWS-shaped errors, never HTML
        install_faults(self.faults)
        self._server.start()
        self._configure_moto()
        self._mappings = EventSourceMappings(self.runtime, self.endpoint_url, self.region)
        self._mappings.start()
        events.install(self)  # PutEvents delivery, S3 → EventBridge, schedules
        oidc.install(self.oidc_issuer)  # the development OIDC issuer, with a new key
        apigateway.install(self)  # HTTP APIs invoke their integrations here
        self.alarms.start()
        return self

    @property
    def oidc_issuer(self) -> str:
        """The development OIDC issuer's URL (`embedded_aws.oidc`; for JWT authorizers run locally)."""
        return f"{self.endpoint_url}{oidc.PREFIX}"

    def _configure_moto(self) -> None:
        """Start empty (moto's backends outlive a server in the same process) and let workflows execute."""
        self._moto_api("reset", None)
        self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})

    def _moto_api(self, path: str, body: dict[str, Any] | None) -> None:
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/{path}",
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        """Stop pollers, workers and the server. Every step runs even when one before it fails (the first
        failure is raised at the end), so no worker process or listening port outlives a failed stop."""
        with contextlib.ExitStack() as steps:  # callbacks run last registered first: read from the bottom
            steps.callback(patches.uninstall)
            steps.callback(iam.install, None)
            steps.callback(install_faults, None)
            steps.callback(self._stop_server)
            steps.callback(endpoints.install, None)  # stops serving every HTTP API and distribution
            steps.callback(apigateway.install, None)
            steps.callback(oidc.install, None)
            steps.callback(lifecycle.uninstall)
            steps.callback(custom_resources.install, None)
            steps.callback(self._async.join)
            steps.callback(self.runtime.shutdown)  # stops busy workers too: in-flight invocations end now
            steps.callback(self._async.stop)
            if self._mappings is not None:
                steps.callback(self._mappings.stop)
            steps.callback(events.uninstall)
            steps.callback(self.alarms.stop)

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        """A new boto3 client for this embedded AWS (the caller's own: it may register event handlers)."""
        return new_client(service, endpoint_url=self.endpoint_url, region=self.region)

    def _own_client(self, service: str) -> Any:
        """The embedded AWS's own client for its deploys and reads: made once (each new client resolves its
        model's shapes again on first use, a tenth of a second of CPU per deploy)."""
        return client(service, endpoint_url=self.endpoint_url, region=self.region)

    # --- the Router the moto patches call -----------------------------------------------------------------
    def invoke_sync(self, function_arn: str, event: Any) -> tuple[str, dict[str, Any] | None]:
        result = self.runtime.invoke(function_arn, event, source="invoke")
        return result.payload, result.error

    def invoke_async(
        self,
        function_arn: str,
        event: Any,
        source: str,
        done: Callable[[str | None, str | None], None] | None = None,
    ) -> None:
        self._async.submit(function_arn, event, source, done)

    @property
    def async_errors(self) -> list[tuple[str, str]]:
        """(function ARN, error) of every asynchronous invocation given up on after its retries."""
        return self._async.errors

    def busy(self) -> dict[str, int]:
        """Work under way now: running workflow executions, invocations holding a worker, and accepted
        asynchronous invocations not yet finished (0 or 1). All zero: nothing will happen unless a queue,
        a schedule or a caller starts it."""
        from embedded_aws.stepfunctions import running_executions

        return {
            "executions": running_executions(),
            "invocations": self.runtime.budget.running,
            "async": int(not self._async.idle()),
        }

    def async_idle(self) -> bool:
        """Whether every accepted asynchronous invocation has finished."""
        return self._async.idle()

    def async_settings(self, function_arn: str) -> AsyncSettings:
        """The function's asynchronous invocation settings as moto stores them (EventInvokeConfig, DLQ)."""
        from moto.awslambda.utils import get_backend

        _, _, _, region, account, *_ = function_arn.split(":")
        name = function_name(function_arn)
        try:
            function = get_backend(account, region).get_function(name)
        except Exception:  # noqa: BLE001 - moto raises several not-found types; all mean "no such function"
            return AsyncSettings(exists=False)
        configs = function.event_invoke_config
        config = configs[-1].config if configs else {}
        return AsyncSettings(
            exists=True,
            max_retries=int(config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)),
            max_age_s=float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S)),
            dead_letter_arn=(getattr(function, "dead_letter_config", None) or {}).get("TargetArn"),
        )

    # --- the Lifecycle the moto hooks call -------------------------------------------------------------
    def function_created(self, function: Any) -> None:
        """Make a function moto just created (or changed) runnable in the local runtime."""
        name = function.function_name
        code_dir = self._code_dir(function)
        if code_dir is None:
            self.runtime.unregister(name)
            return
        config = self._function_config(function.get_configuration(), code_dir, function.reserved_concurrency)
        config = dataclasses.replace(config, layer_dirs=self._layer_dirs(function))
        authority = iam.current()
        if authority is not None and function.role:
            session = authority.session(function.role, "lambda.amazonaws.com", name, function.function_arn)
            config = dataclasses.replace(config, credentials=session.environment())
        if self.runtime.has(name) and self.runtime.pool(name).config == config:
            return  # unchanged: keep the warm workers
        self.runtime.register(config)

    def _layer_dirs(self, function: Any) -> tuple[Path, ...]:
        """The local directories of a function's layers, in order (layers this embedded AWS staged)."""
        from moto.awslambda.models import lambda_backends

        backend = lambda_backends[function.account_id][function.region]
        dirs = []
        for layer in function.layers or []:
            version = backend.layers_versions_by_arn(layer["Arn"])
            code = getattr(version, "code_bytes", None) if version is not None else None
            staged = self._staged_code.get(hashlib.sha256(code).hexdigest()) if code else None
            if staged is None:
                log.warning(
                    "Function %s: layer %s has no local code; it is left out", function.function_name, layer
                )
                continue
            dirs.append(staged)
        return tuple(dirs)

    def function_deleted(self, name: str) -> None:
        self.runtime.unregister(name)

    def stack_ready(self, stack: Any) -> None:
        """The checks a stack passes before it may read CREATE_COMPLETE; raises to fail (and roll back) it."""
        self._check_queue_visibility(stack)
        if self._mappings is not None:
            self._mappings.sync()  # pollers of the stack's mappings are running before anyone sees it ready

    def deliver(self, entry: dict[str, Any]) -> None:
        self.outbox.append(entry)

    # --- deploy ------------------------------------------------------------------------------------------
    def deploy(
        self, template: Path, stack_name: str, parameters: dict[str, str] | None = None
    ) -> DeployedStack:
        """Deploy a SAM or CloudFormation template as a stack; returns once it is CREATE_COMPLETE (ready).

        Everything the embedded AWS cannot honour is refused before anything is created; a stack that fails
        to create is rolled back (ROLLBACK_COMPLETE) and raises DeployError with CloudFormation's reason.
        """
        started = time.perf_counter()
        parameters = dict(parameters or {})
        plan = plan_deploy(
            template,
            parameters=parameters,
            region=self.region,
            supported=cfn_models.supported_types(),
            work_dir=self.state_dir / "stacks" / stack_name,
        )
        self._stage_code(plan)
        cfn = self._own_client("cloudformation")
        self._remove_rolled_back(stack_name)
        declared = plan.template.get("Parameters", {})
        try:
            cfn.create_stack(
                StackName=stack_name,
                TemplateBody=plan.body,
                Parameters=[
                    {"ParameterKey": k, "ParameterValue": str(v)}
                    for k, v in parameters.items()
                    if k in declared
                ],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        except ClientError as exc:
            raise DeployError(f"Stack {stack_name} was not created: {exc}") from exc
        stack = self.describe(stack_name, plan)
        if stack.status != "CREATE_COMPLETE":
            raise DeployError(f"Stack {stack_name} ended {stack.status}, not CREATE_COMPLETE.")
        stack.seconds = time.perf_counter() - started
        self.stacks[stack_name] = stack
        return stack

    def _remove_rolled_back(self, stack_name: str) -> None:
        """A stack left ROLLBACK_COMPLETE by a failed create is deleted first, as `sam deploy` does."""
        cfn = self._own_client("cloudformation")
        try:
            status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
        except ClientError:
            return  # no such stack
        if status == "ROLLBACK_COMPLETE":
            cfn.delete_stack(StackName=stack_name)

    def _check_queue_visibility(self, stack: Any) -> None:
        """Refuse, as Lambda's CreateEventSourceMapping does, a queue that hides messages for less time than
        its function may run."""
        from moto.awslambda.models import EventSourceMapping
        from moto.awslambda.utils import get_backend
        from moto.sqs.models import sqs_backends

        for resource in list(stack.resource_map._parsed_resources.values()):
            if not isinstance(resource, EventSourceMapping) or ":sqs:" not in resource.event_source_arn:
                continue
            _, _, _, region, account, queue_name = resource.event_source_arn.split(":")
            function = get_backend(account, region).get_function(resource.function_arn)
            visibility = int(sqs_backends[account][region].get_queue(queue_name).visibility_timeout)
            timeout = int(function.timeout)
            if visibility < timeout:
                raise DeployError(
                    f"Queue visibility timeout: {visibility} seconds is less than Function timeout: "
                    f"{timeout} seconds ({queue_name} → {function.function_name}). Raise the queue's "
                    "VisibilityTimeout (AWS recommends six times the function timeout)."
                )

    def _stage_code(self, plan: DeployPlan) -> None:
        """Put a marker zip where the translated template says each function's code is; remember which code
        dir each zip stands for, so the function runs from that dir the moment moto creates it."""
        s3 = self._own_client("s3")
        try:
            s3.head_bucket(Bucket=plan.artifact_bucket)
        except ClientError:
            s3.create_bucket(Bucket=plan.artifact_bucket)
        staged: set[str] = set()
        for code in [*plan.functions.values(), *plan.layers.values()]:
            if code.key in staged:  # functions sharing a code directory share its zip
                continue
            staged.add(code.key)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(
                    "LOCAL_CODE.txt",
                    f"The embedded AWS runs functions from {code.code_dir} (deploy {code.key})\n",
                )
            data = buffer.getvalue()
            self._staged_code[hashlib.sha256(data).hexdigest()] = code.code_dir
            s3.put_object(Bucket=plan.artifact_bucket, Key=code.key, Body=data)

    def delete(self, stack_name: str) -> None:
        """Delete a stack as CloudFormation does: its functions stop, its pollers and schedules with them."""
        self._own_client("cloudformation").delete_stack(StackName=stack_name)
        self.stacks.pop(stack_name, None)
        if self._mappings is not None:
            self._mappings.sync()  # its queues' pollers stop now, not at the watcher's next scan

    def describe(self, stack_name: str, plan: DeployPlan | None = None) -> DeployedStack:
        """Read a stack back through the CloudFormation API (with its functions' local configurations)."""
        cfn = self._own_client("cloudformation")
        description = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        resources: dict[str, tuple[str, str]] = {}
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            for item in page["StackResourceSummaries"]:
                resources[item["LogicalResourceId"]] = (
                    item["ResourceType"],
                    item.get("PhysicalResourceId", ""),
                )
        stack = DeployedStack(stack_name, description["StackStatus"], outputs, resources)
        for logical_id, (kind, physical) in resources.items():
            if kind == "AWS::Lambda::Function" and self.runtime.has(physical):
                stack.functions[logical_id] = self.runtime.pool(physical).config
        return stack

    @staticmethod
    def _function_config(conf: dict[str, Any], code_dir: Path, concurrency: Any) -> FunctionConfig:
        return FunctionConfig(
            name=conf["FunctionName"],
            arn=conf["FunctionArn"],
            handler=conf["Handler"],
            code_dir=code_dir,
            timeout_s=float(conf.get("Timeout", 3)),
            memory_mb=int(conf.get("MemorySize", 128)),
            environment={
                # CloudFormation passes YAML booleans on as "true"/"false"; Lambda holds only strings.
                k: endpoints.rewrite(str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in (conf.get("Environment") or {}).get("Variables", {}).items()
            },
            reserved_concurrency=None if concurrency is None else int(concurrency),
            runtime=conf.get("Runtime"),
            logging_config=dict(conf.get("LoggingConfig", {})),
        )

    def _code_dir(self, function: Any) -> Path | None:
        """Where a function's code is: the dir a deploy staged, else its zip (inline `ZipFile`, S3, or an
        `aws lambda create-function --zip-file`) unpacked. None for code the local runtime cannot run."""
        runtime = function.run_time or ""
        code = getattr(function, "code_bytes", None)
        if not runtime.startswith("python") or not code:
            log.info(
                "Function %s (%s) has no Python zip code: it cannot run locally",
                function.function_name,
                runtime,
            )
            return None
        digest = hashlib.sha256(code).hexdigest()
        staged = self._staged_code.get(digest)
        if staged is not None:
            return staged
        target = self.state_dir / "code" / f"{function.function_name}-{digest[:12]}"
        if not target.exists():
            unpacking = target.with_name(target.name + f".{uuid.uuid4().hex[:6]}.tmp")
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                archive.extractall(unpacking)
            unpacking.rename(target)
        return target
