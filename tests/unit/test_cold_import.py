"""What a handler's cold import loads and builds, in a fresh interpreter with the environment Lambda gives it.

Behaviour only (issue 10, point 4): which modules an import pulls in and which clients it makes. How long it
takes is `make bench`'s business (`python -m pipeline.cli.bench_imports`), never a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import boto3
import pytest

from pipeline.adapters import clients
from pipeline.adapters.metadata_table import MetadataTable
from pipeline.adapters.objects import ObjectStore
from pipeline.adapters.queues import Queue
from pipeline.adapters.topics import Topic
from pipeline.adapters.workflows import Workflows
from pipeline.cli.bench_imports import ROOT, functions, lambda_environment
from pipeline.handlers.batch import BatchProcessingError, SQSRecord, process_partial_response

#: Loaded by no handler at import: the X-Ray SDK (Lambda traces the functions itself), Powertools' batch
#: utility and event data classes (asyncio, Kafka, Kinesis...), JSON Schema (loaded on first validation).
NEVER_AT_IMPORT = (
    "aws_xray_sdk",
    "wrapt",
    "aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.data_classes",
    "asyncio",
    "jsonschema",
    "referencing",
)
IMAGE_HANDLERS = {"validate", "thumbnails", "extract_metadata"}
#: The upload API routes with Powertools' event handler, whose package imports asyncio and its data classes
#: (about 130 ms of the API function's own cold start, measured with -X importtime): checked on its own.
ROUTED_HANDLERS = {"pipeline.handlers.api"}

#: Imports the handlers without images, notes what is loaded, then the image handlers, and notes again.
_PROBE = """
import importlib, json, sys
plain, images = json.loads(sys.argv[1]), json.loads(sys.argv[2])
handlers = [getattr(importlib.import_module(m), "handler", None) for m in plain]
after_plain = sorted(sys.modules)
handlers += [getattr(importlib.import_module(m), "handler", None) for m in images]
import boto3
print(json.dumps({
    "after_plain": after_plain,
    "after_all": sorted(sys.modules),
    "default_session": boto3.DEFAULT_SESSION is not None,
    "handlers": all(callable(h) for h in handlers),
}))
"""


def _cold_import(plain: list[str], images: list[str]) -> dict[str, Any]:
    """One fresh interpreter, with every function's Lambda environment, imports the handlers."""
    env: dict[str, str] = {}
    for module in plain + images:
        env.update(lambda_environment(functions()[module]))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(plain), json.dumps(images)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_benchmark_finds_every_handler_and_its_lambda_environment() -> None:
    # Given the project's template
    found = functions()
    # Then every handler module of pipeline/handlers is a function of it
    modules = {p.stem for p in (ROOT / "pipeline" / "handlers").glob("*.py")} - {
        "__init__",
        "observability",
        "batch",
    }
    assert {m.removeprefix("pipeline.handlers.") for m in found} == modules
    # And the environment is Lambda's: reserved variables, Globals, the function's own, nothing local
    env = lambda_environment(found["pipeline.handlers.notify"])
    assert env["AWS_LAMBDA_FUNCTION_NAME"] and env["LAMBDA_TASK_ROOT"] and env["AWS_REGION"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "pipeline"
    assert env["THUMBNAIL_WIDTHS"] == "128,512,1024" and int(env["MAX_PIXELS"]) > 0
    assert env["IDEMPOTENCY_TABLE"] and env["NOTIFY_DEAD_LETTER_QUEUE_URL"].startswith("https://sqs.")
    assert env["USER_NOTIFICATIONS_TOPIC_ARN"].startswith("arn:aws:sns:")
    assert not {"AWS_SAM_LOCAL", "POWERTOOLS_TRACE_DISABLED", "AWS_ENDPOINT_URL"} & set(env)


def test_a_cold_import_loads_only_what_the_handlers_need_and_makes_no_client() -> None:
    # Given a fresh interpreter with the functions' Lambda environment (tracing not disabled)
    modules = sorted(set(functions()) - ROUTED_HANDLERS)
    images = [m for m in modules if m.removeprefix("pipeline.handlers.") in IMAGE_HANDLERS]
    plain = [m for m in modules if m not in images]
    # When the handler modules are imported, as Lambda's init does, those without images first
    result = _cold_import(plain, images)
    # Then each has a handler
    assert result["handlers"]
    # And nothing loads that no handler uses at import
    assert sorted(m for m in result["after_all"] if m.startswith(NEVER_AT_IMPORT)) == []
    # And Pillow not with the handlers that read no image
    assert "PIL" not in result["after_plain"]
    # And no boto3 client exists yet: each is made on first use (once per cold start)
    assert result["default_session"] is False


def test_adapters_make_their_default_client_on_first_use_once_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []

    def fake(service: str) -> object:
        made.append(service)
        return object()

    clients.default_client.cache_clear()
    monkeypatch.setattr(boto3, "client", fake)
    try:
        # Given adapters built without a client
        store, table = ObjectStore(), MetadataTable("t")
        topic, queue, workflows = Topic("arn"), Queue("url"), Workflows()
        # Then none made one yet
        assert made == []
        # When they are used, Then each service's client is made once and shared
        assert store.s3 is ObjectStore().s3 and table.ddb is MetadataTable("u").ddb
        assert topic.sns is not None and queue.sqs is not None and workflows.sfn is not None
        assert sorted(made) == ["dynamodb", "s3", "sns", "sqs", "stepfunctions"]
    finally:
        clients.default_client.cache_clear()


def test_an_injected_client_is_used_as_given() -> None:
    given = object()
    assert ObjectStore(given).s3 is given and MetadataTable("t", given).ddb is given
    assert Topic("arn", given).sns is given and Queue("url", given).sqs is given
    assert Workflows(given).sfn is given


def _batch(*ids: str) -> dict[str, Any]:
    return {"Records": [{"messageId": i, "body": f"body-{i}", "attributes": {}} for i in ids]}


def test_a_partial_batch_reports_only_the_records_that_failed() -> None:
    seen: list[str] = []

    def record_handler(record: SQSRecord) -> None:
        seen.append(record.body)
        if record.message_id == "m2":
            raise ValueError("boom")

    assert process_partial_response(_batch("m1", "m2", "m3"), record_handler) == {
        "batchItemFailures": [{"itemIdentifier": "m2"}]
    }
    assert seen == ["body-m1", "body-m2", "body-m3"]  # one failure does not stop the others


def test_a_batch_of_successes_reports_no_failure() -> None:
    assert process_partial_response(_batch("m1", "m2"), lambda record: None) == {"batchItemFailures": []}


def test_a_batch_whose_every_record_failed_fails_the_invocation() -> None:
    # As Powertools' BatchProcessor does: the whole batch is redelivered and counted as a function error
    def record_handler(record: SQSRecord) -> None:
        raise RuntimeError(f"no {record.message_id}")

    with pytest.raises(BatchProcessingError, match=r"All records failed processing\. 2 errors: m1: .*no m1"):
        process_partial_response(_batch("m1", "m2"), record_handler)


def test_an_event_that_is_not_an_sqs_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="Not an SQS batch"):
        process_partial_response({"detail": {}}, lambda record: None)


def test_the_api_handler_imports_cold_without_pillow_schemas_or_clients() -> None:
    # Given a fresh interpreter with the API function's Lambda environment
    # When its handler module is imported, as Lambda's init does
    result = _cold_import(sorted(ROUTED_HANDLERS), [])
    # Then it has a handler, loads neither Pillow nor the JSON Schema validator, and makes no client yet
    assert result["handlers"]
    assert not [m for m in result["after_all"] if m.startswith(("PIL", "jsonschema", "aws_xray_sdk"))]
    assert result["default_session"] is False
