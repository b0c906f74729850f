"""The Step Functions API as AWS answers it, over moto's executing backend (its ASL interpreter).

moto's executing backend (`StepFunctionsParserBackend`) runs definitions; these patches make its API behave as
AWS documents:

- `StartExecution` without a name gets a UUID; an EXPRESS execution gets an `express:` ARN, is not idempotent
  by name (each start is a new execution), times out after five minutes, and cannot be described, listed or
  have its history read (`InvalidArn` / `StateMachineTypeNotSupported`, as AWS answers); input over 256 KiB
  is refused.
- `StartSyncExecution` runs an EXPRESS execution to its end and answers its result; a STANDARD machine is
  refused with `StateMachineTypeNotSupported`.
- `LoggingConfiguration` writes each execution's events to its CloudWatch Logs group in AWS's log format
  (one JSON object per event: `id`, `type`, `details`, `previous_event_id`, `event_timestamp`,
  `execution_arn`, `redrive_count`), honouring `Level` and `IncludeExecutionData`.
- Definitions: every error name AWS accepts is accepted (e.g. `States.Http.Socket`, or a Fail state's
  `"Error": "States.TaskFailed"`); what AWS refuses answers `InvalidDefinition` with AWS's
  `Invalid State Machine Definition: 'CODE: message at /path'` shape; moto's own exceptions get their error
  codes back (moto sent them with an empty code).
- `GetExecutionHistory` honours `reverseOrder`, `includeExecutionData` and paging; `ListExecutions` validates
  `statusFilter`; `ValidateStateMachineDefinition`, `ListStateMachineVersions`,
  `PublishStateMachineVersion` and `DeleteStateMachineVersion` work; the actions the embedded AWS cannot do
  (`TestState`, `RedriveExecution`, `GetActivityTask`) answer 501 `NotImplemented` naming the action.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult, EmptyResult
from moto.logs.exceptions import ResourceNotFoundException as LogsResourceNotFound
from moto.logs.models import logs_backends
from moto.stepfunctions.exceptions import (
    InvalidArn,
    InvalidExecutionInput,
    ValidationException,
)
from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser import api as sfn_api
from moto.stepfunctions.parser.api import HistoryEventType, LogLevel, StateMachineType
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.eval.event.logging import (
    CloudWatchLoggingConfiguration,
    CloudWatchLoggingSession,
    HistoryLog,
    is_logging_enabled_for,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import ASLParserException
from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import ExpressStaticAnalyser
from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
    SyncExecution,
    SyncExecutionWorkerCommunication,
)
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse
from moto.utilities.utils import get_partition

#: Step Functions' quota on an execution's (and each state's) input and output: 256 KiB of UTF-8.
PAYLOAD_LIMIT_BYTES = 262_144
#: The longest an EXPRESS execution runs on AWS before it times out.
EXPRESS_MAX_SECONDS = 300
#: The statuses `ListExecutions` accepts in `statusFilter`.
EXECUTION_STATUSES = ("SUCCEEDED", "TIMED_OUT", "PENDING_REDRIVE", "ABORTED", "FAILED", "RUNNING")
#: Actions of the Step Functions API the embedded AWS does not run, and why.
UNSUPPORTED_ACTIONS = {
    "TestState": "start an execution of a one-state machine instead.",
    "RedriveExecution": "start a new execution instead.",
    "GetActivityTask": "activities do not run locally; use a Lambda or SDK integration task.",
}


class NotImplementedAction(AWSError):  # type: ignore[misc]  # noqa: N818 - moto is untyped; AWS's error name
    """An action AWS has and the embedded AWS does not run: 501 `NotImplemented` (the server's shape for every
    such action), which the SDKs do not retry."""

    TYPE = "NotImplemented"
    STATUS = 501


class StateMachineTypeNotSupported(AWSError):  # type: ignore[misc]  # noqa: N818 - moto is untyped; AWS's error name
    TYPE = "StateMachineTypeNotSupported"
    STATUS = 400


class InvalidDefinition(AWSError):  # type: ignore[misc]  # noqa: N818 - moto is untyped; AWS's error name
    TYPE = "InvalidDefinition"
    STATUS = 400


class InvalidLoggingConfiguration(AWSError):  # type: ignore[misc]  # noqa: N818 - moto is untyped; AWS's error name
    TYPE = "InvalidLoggingConfiguration"
    STATUS = 400


# --- definitions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Diagnostic:
    """One finding of definition validation, as `ValidateStateMachineDefinition` reports it."""

    code: str
    message: str
    location: str | None = None

    def text(self) -> str:
        return f"{self.code}: {self.message}" + (f" at {self.location}" if self.location else "")

    def as_api(self) -> dict[str, str]:
        out = {"severity": "ERROR", "code": self.code, "message": self.message}
        if self.location:
            out["location"] = self.location
        return out


def _targets(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target state, field path) of every transition a state makes."""
    out: list[tuple[str, str]] = []
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], "Next"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "Default"))
    for i, choice in enumerate(state.get("Choices") or []):
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            out.append((choice["Next"], f"Choices[{i}]/Next"))
    for i, catcher in enumerate(state.get("Catch") or []):
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append((catcher["Next"], f"Catch[{i}]/Next"))
    return out


def _graph_diagnostics(machine: dict[str, Any], path: str) -> list[Diagnostic]:
    """AWS's graph checks on one state container (the machine, a branch, a Map's processor)."""
    states = machine.get("States")
    missing = [field for field in ("StartAt", "States") if field not in machine]
    if missing:
        return [
            Diagnostic("SCHEMA_VALIDATION_FAILED", f"These fields are required: [{', '.join(missing)}]", path)
        ]
    if not isinstance(states, dict) or not states:
        return [Diagnostic("SCHEMA_VALIDATION_FAILED", "The field 'States' must be a non-empty object", path)]
    found: list[Diagnostic] = []
    start = machine["StartAt"]
    if start not in states:
        found.append(
            Diagnostic("MISSING_TRANSITION_TARGET", f"Missing 'Next' target: {start}", f"{path}StartAt")
        )
    terminal = False
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        where = f"{path}States/{name}"
        if "Type" not in state:
            found.append(Diagnostic("SCHEMA_VALIDATION_FAILED", "These fields are required: [Type]", where))
            continue
        terminal = terminal or state.get("End") is True or state["Type"] in ("Succeed", "Fail")
        for target, field in _targets(state):
            if target not in states:
                found.append(
                    Diagnostic(
                        "MISSING_TRANSITION_TARGET",
                        f"Missing 'Next' target: {target}",
                        f"{where}/Next" if field == "Next" else f"{where}/{field}",
                    )
                )
        for i, branch in enumerate(state.get("Branches") or []):
            if isinstance(branch, dict):
                found += _graph_diagnostics(branch, f"{where}/Branches[{i}]/")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                found += _graph_diagnostics(state[key], f"{where}/{key}/")
    if not terminal:
        found.append(Diagnostic("MISSING_END_STATE", "Workflow has no terminal state"))
    elif not found:
        reachable = _reachable(states, start)
        found += [
            Diagnostic(
                "MISSING_TRANSITION_TARGET", f'State "{name}" is not reachable.', f"{path}States/{name}"
            )
            for name in states
            if name not in reachable
        ]
    return found


def _reachable(states: dict[str, Any], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo += [target for target, _ in _targets(states[name])]
    return seen


def validate_definition(definition: str, sm_type: str = "STANDARD") -> list[Diagnostic]:
    """Validate a definition as AWS does: an empty list means AWS would accept it."""
    try:
        parsed = json.loads(definition)
    except json.JSONDecodeError as exc:
        return [
            Diagnostic("INVALID_JSON_DESCRIPTION", f"{exc.msg} at (line: {exc.lineno}, column: {exc.colno})")
        ]
    if not isinstance(parsed, dict):
        return [Diagnostic("SCHEMA_VALIDATION_FAILED", "The definition must be a JSON object", "/")]
    found = _graph_diagnostics(parsed, "/")
    if found:
        return found
    analyser: StaticAnalyser = ExpressStaticAnalyser() if sm_type == "EXPRESS" else _PlainAnalyser()
    try:
        analyser.analyse(definition)
    except ASLParserException as exc:
        return [
            Diagnostic("SCHEMA_VALIDATION_FAILED", "; ".join(exc.errors) or "The definition does not parse")
        ]
    except Exception as exc:  # noqa: BLE001 - moto's parser reports every refusal as a plain exception
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        prefix = "Invalid State Machine Definition: '"
        if message.startswith(prefix):  # moto's Express analyser already speaks AWS's words
            code, _, text = message[len(prefix) :].rstrip("'").partition(": ")
            return [Diagnostic(code, text)]
        return [Diagnostic("SCHEMA_VALIDATION_FAILED", message)]
    return []


class _PlainAnalyser(StaticAnalyser):  # type: ignore[misc]  # moto is untyped here
    """moto's base analyser (parses the whole definition), which is abstract only by declaration."""


def _raise_if_invalid(definition: str, sm_type: str = "STANDARD") -> None:
    found = validate_definition(definition, sm_type)
    if found:
        raise InvalidDefinition(
            "Invalid State Machine Definition: '" + ", ".join(d.text() for d in found) + "'"
        )


def _custom_error_name_new(cls: type, error_name: str | None = None) -> ErrorName:
    """A known `States.*` name is that States error (so `States.TaskFailed` does not catch a propagated
    `States.Timeout`); any other name is a custom one, whatever its prefix: AWS accepts them all."""
    if cls is CustomErrorName and error_name is not None:
        try:
            return StatesErrorName(StatesErrorNameType.from_name(error_name))
        except ValueError:
            pass
    return object.__new__(cls)


def _custom_error_name_init(self: CustomErrorName, error_name: str | None = None) -> None:
    ErrorName.__init__(self, error_name=error_name)


def _validate_logging(config: dict[str, Any] | None) -> None:
    if not config:
        return
    destinations = config.get("destinations") or []
    if len(destinations) > 1 or (config.get("level", "OFF") != "OFF" and not destinations):
        raise InvalidLoggingConfiguration(
            "Invalid Logging Configuration: Must specify exactly one Log Destination."
        )


def _create_state_machine(
    self: StepFunctionsParserBackend,
    name: str,
    definition: str,
    roleArn: str,  # noqa: N803 - moto's keyword
    tags: list[dict[str, str]] | None = None,
    publish: bool | None = None,
    loggingConfiguration: dict[str, Any] | None = None,  # noqa: N803
    tracingConfiguration: dict[str, Any] | None = None,  # noqa: N803
    encryptionConfiguration: dict[str, Any] | None = None,  # noqa: N803
    version_description: str | None = None,
    sm_type: str | None = None,
) -> StateMachine:
    _raise_if_invalid(definition, sm_type or "STANDARD")
    _validate_logging(loggingConfiguration)
    return StepFunctionBackend.create_state_machine(
        self,
        name=name,
        definition=definition,
        roleArn=roleArn,
        tags=tags,
        publish=publish,
        loggingConfiguration=loggingConfiguration,
        tracingConfiguration=tracingConfiguration,
        encryptionConfiguration=encryptionConfiguration,
        version_description=version_description,
        sm_type=sm_type,
    )


def _validate_definition_for_update(definition: str) -> None:
    _raise_if_invalid(definition)


def _update_state_machine(original: Callable[..., StateMachine]) -> Callable[..., StateMachine]:
    """Validate an updated definition and logging configuration for the machine's own type."""

    def update_state_machine(
        self: StepFunctionsParserBackend, arn: str, *args: Any, **kwargs: Any
    ) -> StateMachine:
        machine = self.describe_state_machine(arn)
        definition = kwargs.get("definition", args[0] if args else None)
        if definition is not None:
            _raise_if_invalid(definition, machine.type)
        _validate_logging(kwargs.get("logging_configuration"))
        return original(self, arn, *args, **kwargs)

    return update_state_machine


# --- CloudWatch Logs ----------------------------------------------------------------------------------------
_logs_lock = threading.Lock()


class ExecutionLogSession(CloudWatchLoggingSession):  # type: ignore[misc]  # moto is untyped here
    """Writes one execution's history events to its log group as Step Functions does (vended-log format)."""

    def __init__(
        self, execution_arn: str, configuration: CloudWatchLoggingConfiguration, state_machine_name: str
    ) -> None:
        super().__init__(execution_arn=execution_arn, configuration=configuration)
        now = datetime.datetime.now(datetime.UTC)
        self.log_stream_name = f"states/{state_machine_name}/{now:%Y-%m-%d-%H-%M}/{uuid.uuid4().hex[:8]}"

    def publish_history_log(self, history_log: HistoryLog) -> None:
        stamp = _epoch_ms(history_log["event_timestamp"])
        record = {
            "id": history_log["id"],
            "type": str(
                history_log["type"].value if hasattr(history_log["type"], "value") else history_log["type"]
            ),
            "details": history_log.get("details") or {},
            "previous_event_id": history_log["previous_event_id"],
            "event_timestamp": str(stamp),
            "execution_arn": self.execution_arn,
            "redrive_count": "0",
        }
        event = {"timestamp": stamp, "message": json.dumps(record, separators=(",", ":"))}
        backend = logs_backends[self.configuration.log_account_id][self.configuration.log_region]
        group = self.configuration.log_group_name
        with _logs_lock:
            try:
                backend.ensure_log_stream(group, self.log_stream_name)
                backend.put_log_events(group, self.log_stream_name, [event])
            except LogsResourceNotFound:
                # As on AWS, a missing log group loses the log (best-effort delivery), never the execution.
                return


def _epoch_ms(value: Any) -> int:
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        moment = datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC)
    return int(moment.timestamp() * 1000)


def _log_session(state_machine: StateMachine, execution_arn: str) -> ExecutionLogSession | None:
    config = state_machine.loggingConfiguration or {}
    level = config.get("level", LogLevel.OFF)
    if level == LogLevel.OFF:
        return None
    parts = CloudWatchLoggingConfiguration.extract_log_arn_parts_from(config)
    if parts is None:
        return None
    account, region, group = parts
    configuration = CloudWatchLoggingConfiguration(
        state_machine_arn=state_machine.arn,
        log_account_id=account,
        log_region=region,
        log_group_name=group,
        log_level=LogLevel(level),
        # CloudFormation passes a parameter's "false" as a string, which AWS reads as the boolean.
        include_execution_data=str(config.get("includeExecutionData", False)).lower() == "true",
    )
    return ExecutionLogSession(execution_arn, configuration, state_machine.name)


def log_level_includes(level: str, event_type: str) -> bool:
    """Whether a state machine logging at `level` writes events of `event_type` (AWS's log levels)."""
    return bool(is_logging_enabled_for(LogLevel(level), HistoryEventType(event_type)))


# --- executions ---------------------------------------------------------------------------------------------
class _EndingComm(BaseExecutionWorkerCommunication):  # type: ignore[misc]  # moto is untyped here
    def terminated(self) -> None:
        super().terminated()
        self.execution.on_end()


class _SyncEndingComm(SyncExecutionWorkerCommunication):  # type: ignore[misc]  # moto is untyped here
    def terminated(self) -> None:
        super().terminated()
        self.execution.on_end()


class _EndNotifying:
    """Tells whoever set `ended` that the execution ended (its state machine: EXPRESS executions are not
    kept)."""

    ended: Callable[[Any], None] | None = None

    def on_end(self) -> None:
        if self.ended is not None:
            self.ended(self)


class LocalExecution(_EndNotifying, Execution):  # type: ignore[misc]  # moto is untyped here
    """An asynchronously started execution that reports its end."""

    def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
        return _EndingComm(self)


class LocalSyncExecution(_EndNotifying, SyncExecution):  # type: ignore[misc]  # moto is untyped here
    """A `StartSyncExecution` execution that reports its end."""

    def _get_start_execution_worker_comm(self) -> BaseExecutionWorkerCommunication:
        return _SyncEndingComm(self)


def _check_input(execution_input: str | None) -> str:
    text = "{}" if execution_input is None else execution_input
    if len(text.encode("utf-8")) > PAYLOAD_LIMIT_BYTES:
        raise ValidationException(
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {PAYLOAD_LIMIT_BYTES}"
        )
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidExecutionInput(f"Invalid State Machine Execution Input: '{exc}'") from exc
    return text


def _execution_arn(
    backend: StepFunctionBackend, state_machine: StateMachine, name: str, express: bool
) -> str:
    base = f"arn:{get_partition(backend.region_name)}:states:{backend.region_name}:{backend.account_id}"
    if express:
        return f"{base}:express:{state_machine.name}:{name}:{uuid.uuid4()}"
    return f"{base}:execution:{state_machine.name}:{name}"


def _new_execution(
    backend: StepFunctionsParserBackend,
    state_machine: StateMachine,
    name: str | None,
    execution_input: str | None,
    trace_header: str | None,
    sync: bool,
) -> Execution:
    if name is None:
        name = str(uuid.uuid4())
    else:
        backend._validate_name(name)
    input_text = _check_input(execution_input)
    express = state_machine.type == StateMachineType.EXPRESS
    if not express:
        existing = state_machine._handle_name_input_idempotency(name, input_text)
        if existing is not None:
            return existing
    # A snapshot of the definition for this execution; never copy other executions (live threads and locks).
    snapshot = copy.deepcopy(
        state_machine, {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend}
    )
    snapshot.sm_type = state_machine.type  # moto's model keeps every machine's sm_type at STANDARD
    if express:
        snapshot.definition = express_definition(snapshot.definition)
    arn = _execution_arn(backend, state_machine, name, express)
    kind = LocalSyncExecution if sync else LocalExecution
    execution = kind(
        name=name,
        sm_type=state_machine.type,
        role_arn=snapshot.roleArn,
        exec_arn=arn,
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        cloud_watch_logging_session=_log_session(state_machine, arn),
        input_data=input_text,
        trace_header=trace_header,
        activity_store={},
    )
    execution.execution_input = input_text
    if express:
        execution.ended = lambda done: _forget(state_machine, done)
    state_machine.executions.append(execution)
    execution.start()
    return execution


def running_executions() -> int:
    """Executions running now, of every state machine (EXPRESS ones included), in every account and region."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return sum(
        1
        for regions in stepfunctions_parser_backends.values()
        for backend in regions.values()
        for machine in list(backend.state_machines)
        for execution in list(machine.executions)
        if execution.status == "RUNNING"
    )


def express_definition(definition: str) -> str:
    """An EXPRESS execution runs at most five minutes on AWS: cap the definition's `TimeoutSeconds` at 300."""
    parsed = json.loads(definition)
    if not isinstance(parsed.get("TimeoutSeconds"), int) or parsed["TimeoutSeconds"] > EXPRESS_MAX_SECONDS:
        parsed["TimeoutSeconds"] = EXPRESS_MAX_SECONDS
    return json.dumps(parsed)


def _forget(state_machine: StateMachine, execution: Execution) -> None:
    """AWS keeps no record of a finished EXPRESS execution (its history is in CloudWatch Logs)."""
    try:
        state_machine.executions.remove(execution)
    except ValueError:
        return


def _start_execution(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Execution:
    state_machine = self.describe_state_machine(state_machine_arn)
    return _new_execution(self, state_machine, name, execution_input, trace_header, sync=False)


def _start_sync_execution(
    self: StepFunctionsParserBackend,
    state_machine_arn: str,
    name: str | None = None,
    execution_input: str | None = None,
    trace_header: str | None = None,
) -> Execution:
    state_machine = self.describe_state_machine(state_machine_arn)
    if state_machine.type != StateMachineType.EXPRESS:
        raise StateMachineTypeNotSupported("This operation is not supported by this type of state machine")
    return _new_execution(self, state_machine, name, execution_input, trace_header, sync=True)


# --- the API (moto's responses) -----------------------------------------------------------------------------
def _refuse_express(execution_arn: str) -> None:
    if ":express:" in (execution_arn or ""):
        raise InvalidArn("Invalid Arn: 'Resource type not valid in this context: express'")


def _wrap_refusing_express(
    original: Callable[[StepFunctionResponse], Any],
) -> Callable[[StepFunctionResponse], Any]:
    def action(self: StepFunctionResponse) -> Any:
        _refuse_express(self._get_param("executionArn"))
        return original(self)

    action.__name__ = original.__name__
    return action


def _start_sync_execution_action(self: StepFunctionResponse) -> ActionResult:
    backend = self.stepfunction_backend
    if not isinstance(backend, StepFunctionsParserBackend):
        raise NotImplementedAction(
            "The embedded AWS does not implement states:StartSyncExecution without execution."
        )
    execution = backend.start_sync_execution(
        self._get_param("stateMachineArn"),
        self._get_param("name"),
        self._get_param("input"),
        self._get_param("traceHeader"),
    )
    response: dict[str, Any] = dict(execution.to_start_sync_execution_output())
    response["status"] = str(
        response["status"].value if hasattr(response["status"], "value") else response["status"]
    )
    duration_ms = max(1.0, (execution.stop_date - execution.start_date).total_seconds() * 1000)
    response["billingDetails"] = {
        "billedMemoryUsedInMB": 64,  # AWS bills memory in 64-MB steps; this is the smallest
        "billedDurationInMilliseconds": int(math.ceil(duration_ms / 100.0) * 100),
    }
    if response.get("traceHeader") is None:
        response.pop("traceHeader", None)
    return ActionResult(response)


def _list_executions_action(
    original: Callable[[StepFunctionResponse], Any],
) -> Callable[[StepFunctionResponse], Any]:
    def list_executions(self: StepFunctionResponse) -> Any:
        status = self._get_param("statusFilter")
        if status is not None and status not in EXECUTION_STATUSES:
            raise ValidationException(
                f"1 validation error detected: Value '{status}' at 'statusFilter' failed to satisfy "
                f"constraint: Member must satisfy enum value set: [{', '.join(EXECUTION_STATUSES)}]"
            )
        machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
        if machine.type == StateMachineType.EXPRESS:
            raise StateMachineTypeNotSupported(
                "This operation is not supported by this type of state machine"
            )
        return original(self)

    return list_executions


_DATA_KEYS = ("input", "inputDetails", "output", "outputDetails")


def _get_execution_history_action(self: StepFunctionResponse) -> ActionResult:
    execution_arn = self._get_param("executionArn")
    _refuse_express(execution_arn)
    events: list[dict[str, Any]] = self.stepfunction_backend.get_execution_history(execution_arn)["events"]
    if self._get_param("reverseOrder"):
        events = list(reversed(events))
    if self._get_param("includeExecutionData") is False:
        events = [
            {
                k: (
                    {dk: dv for dk, dv in v.items() if dk not in _DATA_KEYS}
                    if k.endswith("EventDetails")
                    else v
                )
                for k, v in e.items()
            }
            for e in events
        ]
    max_results = self._get_int_param("maxResults") or 100
    start = int(self._get_param("nextToken") or 0)
    page = events[start : start + max_results]
    response: dict[str, Any] = {"events": page}
    if start + max_results < len(events):
        response["nextToken"] = str(start + max_results)
    return ActionResult(response)


def _validate_state_machine_definition_action(self: StepFunctionResponse) -> ActionResult:
    found = validate_definition(self._get_param("definition"), self._get_param("type") or "STANDARD")
    return ActionResult(
        {"result": "FAIL" if found else "OK", "diagnostics": [d.as_api() for d in found], "truncated": False}
    )


def _publish_state_machine_version_action(self: StepFunctionResponse) -> ActionResult:
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    machine.publish(self._get_param("description"))
    version = machine.latest_version
    return ActionResult({"creationDate": version.creation_date, "stateMachineVersionArn": version.arn})


def _list_state_machine_versions_action(self: StepFunctionResponse) -> ActionResult:
    machine = self.stepfunction_backend.describe_state_machine(self._get_param("stateMachineArn"))
    versions = sorted(machine.versions.values(), key=lambda v: v.version, reverse=True)
    return ActionResult(
        {
            "stateMachineVersions": [
                {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in versions
            ]
        }
    )


def _delete_state_machine_version_action(self: StepFunctionResponse) -> EmptyResult:
    arn = self._get_param("stateMachineVersionArn")
    source, _, number = arn.rpartition(":")
    if number.isdigit():
        machine = self.stepfunction_backend.describe_state_machine(source)
        machine.versions.pop(int(number), None)
    return EmptyResult()


def _unsupported(action: str) -> Callable[[StepFunctionResponse], Any]:
    def refuse(self: StepFunctionResponse) -> Any:
        raise NotImplementedAction(
            f"The embedded AWS does not implement states:{action}: {UNSUPPORTED_ACTIONS[action]}"
        )

    return refuse


# --- moto's own exceptions ----------------------------------------------------------------------------------
def _give_moto_exceptions_their_codes() -> None:
    """moto's interpreter raises AWS-named exceptions that carry the name in `code`, which moto's error
    serialiser ignores (it answers an empty code), and some are raised without a message (a TypeError)."""
    for exception in vars(sfn_api).values():
        if not (isinstance(exception, type) and issubclass(exception, AWSError)) or exception is AWSError:
            continue
        name = getattr(exception, "code", None)
        if not isinstance(name, str) or getattr(exception, "TYPE", None) is not None:
            continue
        setattr(exception, "TYPE", name)  # noqa: B010 - moto's classes are untyped
        setattr(exception, "STATUS", int(getattr(exception, "status_code", 400)))  # noqa: B010
        setattr(exception, "__init__", _default_message_init(name))  # noqa: B010


def _default_message_init(name: str) -> Callable[..., None]:
    default = {
        "InvalidToken": "Invalid Token: 'Invalid token'",
        "TaskDoesNotExist": "Task Does Not Exist",
    }.get(name, name)

    def __init__(self: AWSError, message: str | None = None, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        AWSError.__init__(self, message or default)

    return __init__


# --- install ------------------------------------------------------------------------------------------------
_installed = False


def install() -> None:
    """Patch moto's Step Functions API and executing backend as described above. Idempotent."""
    global _installed  # noqa: PLW0603 - one-time patch of a third-party module
    if _installed:
        return
    _give_moto_exceptions_their_codes()
    CustomErrorName.__new__ = _custom_error_name_new
    CustomErrorName.__init__ = _custom_error_name_init
    backend = StepFunctionsParserBackend
    backend.create_state_machine = _create_state_machine
    backend._validate_definition = staticmethod(_validate_definition_for_update)
    backend.update_state_machine = _update_state_machine(backend.update_state_machine)
    backend.start_execution = _start_execution
    backend.start_sync_execution = _start_sync_execution
    responses = StepFunctionResponse
    for name in ("describe_execution", "stop_execution", "describe_state_machine_for_execution"):
        setattr(responses, name, _wrap_refusing_express(getattr(responses, name)))
    responses.list_executions = _list_executions_action(responses.list_executions)
    responses.get_execution_history = _get_execution_history_action
    responses.start_sync_execution = _start_sync_execution_action
    responses.validate_state_machine_definition = _validate_state_machine_definition_action
    responses.publish_state_machine_version = _publish_state_machine_version_action
    responses.list_state_machine_versions = _list_state_machine_versions_action
    responses.delete_state_machine_version = _delete_state_machine_version_action
    for action in UNSUPPORTED_ACTIONS:
        setattr(responses, _snake(action), _unsupported(action))
    _installed = True


def _snake(action: str) -> str:
    from moto.core.utils import camelcase_to_underscores

    return str(camelcase_to_underscores(action))


__all__ = [
    "PAYLOAD_LIMIT_BYTES",
    "Diagnostic",
    "install",
    "log_level_includes",
    "validate_definition",
]
