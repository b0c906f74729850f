"""The embedded AWS: moto in server mode plus the local Lambda runtime, event source mappings and outbox.

One process runs it all (DESIGN.md D2): moto's server on 127.0.0.1:PORT, so `aws --endpoint-url`,
`awslocal` and boto3 work unchanged; Lambda code in worker processes of its own; SQS mappings polled as
Lambda does; email and SMS deliveries written to an outbox file.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from embedded_aws import cfn_models, events, limits, patches, stepfunctions
from embedded_aws.clients import client
from embedded_aws.errors import DeployError, EmbeddedAwsError
from embedded_aws.esm import EventSourceMappings
from embedded_aws.runtime import FunctionConfig, LambdaRuntime
from embedded_aws.server import AwsServer, ErrorLog
from embedded_aws.template import LOCAL_ACCOUNT_ID, DeployPlan, plan_deploy

log = logging.getLogger(__name__)

DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
#: Retries of a failed asynchronous invocation, as Lambda makes (AWS waits minutes; here seconds).
ASYNC_RETRY_DELAYS_S = (1.0, 2.0)


def poll_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> Any:
    """Call `predicate` until it returns something truthy or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


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
    ) -> None:
        self.port = port
        self.host = host
        self.region = region
        self.state_dir = state_dir.resolve()
        self.endpoint_url = f"http://{host}:{port}"
        self.runtime = LambdaRuntime(self.endpoint_url, region, self.state_dir / "logs")
        self.outbox = Outbox(self.state_dir / "outbox.jsonl")
        self._server: Any = None
        self._mappings: EventSourceMappings | None = None
        self._async = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
        self.async_errors: list[tuple[str, str]] = []
        self.server_errors = ErrorLog()  # every 5xx answer; internal failures are bugs
        self.stacks: dict[str, DeployedStack] = {}

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
        self.outbox.clear()
        cfn_models.install()
        stepfunctions.install()
        patches.install(self)
        limits.install()  # SNS/SQS message sizes as AWS counts them
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        os.environ["MOTO_PORT"] = str(self.port)  # moto's Step Functions interpreter calls back here
        self._server = AwsServer(self.host, self.port, self.server_errors)  # AWS-shaped errors, never HTML
        self._server.start()
        self._configure_moto()
        self._mappings = EventSourceMappings(self.runtime, self.endpoint_url, self.region)
        self._mappings.start()
        events.install(self)  # PutEvents delivery, S3 → EventBridge, schedules
        return self

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
        """Stop pollers, workers and the server."""
        events.uninstall()
        if self._mappings is not None:
            self._mappings.stop()
        self._async.shutdown(wait=False, cancel_futures=True)
        self.runtime.shutdown()  # stops busy workers too, so in-flight async invocations end now
        self._async.shutdown(wait=True)
        if self._server is not None:
            self._server.stop()
            self._server = None
        patches.uninstall()

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        """A boto3 client for this embedded AWS."""
        return client(service, endpoint_url=self.endpoint_url, region=self.region)

    # --- the Router the moto patches call -----------------------------------------------------------------
    def invoke_sync(self, function_arn: str, event: Any) -> tuple[str, dict[str, Any] | None]:
        result = self.runtime.invoke(function_arn, event, source="invoke")
        return result.payload, result.error

    def invoke_async(self, function_arn: str, event: Any, source: str) -> None:
        self._async.submit(self._run_async, function_arn, event, source).add_done_callback(self._async_done)

    def _async_done(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("Asynchronous invocation failed inside the embedded AWS", exc_info=future.exception())

    def _run_async(self, function_arn: str, event: Any, source: str) -> None:
        for attempt, delay in enumerate((0.0, *ASYNC_RETRY_DELAYS_S)):
            time.sleep(delay)
            try:
                result = self.runtime.invoke(function_arn, event, source=source)
            except EmbeddedAwsError as exc:
                self.async_errors.append((function_arn, str(exc)))
                log.error("Asynchronous invocation from %s failed: %s", source, exc)
                return
            if not result.errored:
                return
            log.warning("Asynchronous invocation of %s failed (attempt %d)", function_arn, attempt + 1)
        self.async_errors.append((function_arn, result.payload))

    def deliver(self, entry: dict[str, Any]) -> None:
        self.outbox.append(entry)

    # --- deploy ------------------------------------------------------------------------------------------
    def deploy(
        self, template: Path, stack_name: str, parameters: dict[str, str] | None = None
    ) -> DeployedStack:
        """Deploy a SAM or CloudFormation template as a stack; the local runtime takes its functions' code."""
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
        cfn = self.client("cloudformation")
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
        try:
            self._check_queue_visibility(stack)
        except DeployError:
            cfn.delete_stack(StackName=stack_name)  # as CloudFormation rolls back a failed create
            raise
        for config in stack.functions.values():
            self.runtime.register(config)
        if self._mappings is not None:
            self._mappings.sync()
        stack.seconds = time.perf_counter() - started
        self.stacks[stack_name] = stack
        return stack

    def _check_queue_visibility(self, stack: DeployedStack) -> None:
        """Refuse, as Lambda's CreateEventSourceMapping does, a queue that hides messages for less time than
        its function may run."""
        by_arn = {config.arn: config for config in stack.functions.values()}
        sqs = self.client("sqs")
        for page in self.client("lambda").get_paginator("list_event_source_mappings").paginate():
            for mapping in page["EventSourceMappings"]:
                config = by_arn.get(mapping["FunctionArn"])
                if config is None or ":sqs:" not in mapping["EventSourceArn"]:
                    continue
                name = mapping["EventSourceArn"].rsplit(":", 1)[-1]
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
                visibility = int(attributes["Attributes"]["VisibilityTimeout"])
                if visibility < config.timeout_s:
                    raise DeployError(
                        f"Queue visibility timeout: {visibility} seconds is less than Function timeout: "
                        f"{config.timeout_s:.0f} seconds ({name} → {config.name}). Raise the queue's "
                        "VisibilityTimeout (AWS recommends six times the function timeout)."
                    )

    def _stage_code(self, plan: DeployPlan) -> None:
        """Put a placeholder zip where the translated template says each function's code is."""
        s3 = self.client("s3")
        try:
            s3.head_bucket(Bucket=plan.artifact_bucket)
        except ClientError:
            s3.create_bucket(Bucket=plan.artifact_bucket)
        for logical_id, code in plan.functions.items():
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(
                    "LOCAL_CODE.txt", f"The embedded AWS runs this function from {code.code_dir}\n"
                )
            s3.put_object(Bucket=plan.artifact_bucket, Key=f"{logical_id}.zip", Body=buffer.getvalue())

    def describe(self, stack_name: str, plan: DeployPlan | None = None) -> DeployedStack:
        """Read a stack back through the CloudFormation API."""
        cfn = self.client("cloudformation")
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
        if plan is not None:
            for logical_id, (kind, physical) in resources.items():
                if kind == "AWS::Lambda::Function":
                    stack.functions[logical_id] = self._function_config(physical, plan, logical_id)
        return stack

    def _function_config(self, name: str, plan: DeployPlan, logical_id: str) -> FunctionConfig:
        lam = self.client("lambda")
        conf = lam.get_function_configuration(FunctionName=name)
        code = plan.functions.get(logical_id)
        code_dir = code.code_dir if code is not None else self._extract_code(name)
        concurrency = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        return FunctionConfig(
            name=name,
            arn=conf["FunctionArn"],
            handler=conf["Handler"],
            code_dir=code_dir,
            timeout_s=float(conf.get("Timeout", 3)),
            memory_mb=int(conf.get("MemorySize", 128)),
            environment=dict(conf.get("Environment", {}).get("Variables", {})),
            reserved_concurrency=concurrency,
            runtime=conf.get("Runtime"),
            logging_config=dict(conf.get("LoggingConfig", {})),
        )

    def _extract_code(self, name: str) -> Path:
        """A function deployed with inline or S3 code: unpack the zip moto stores."""
        from moto.awslambda.utils import get_backend

        function = get_backend(LOCAL_ACCOUNT_ID, self.region).get_function(name)
        target = self.state_dir / "code" / name
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
            archive.extractall(target)
        return target
