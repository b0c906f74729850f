"""The embedded AWS's shortcuts (issue 10) give the answers of the slow paths they replace."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from moto.cloudformation.models import Stack as FakeStack
from moto.core.utils import unix_time, unix_time_millis
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from embedded_aws import lifecycle, sfn_interpreter, sqs
from embedded_aws.server import CachedDispatcher
from embedded_aws.template import _definition, load_template
from tests.conftest import ROOT

_SCOPE = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host"


def _environ(service: str | None, path: str = "/", body: bytes = b"") -> dict[str, Any]:
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:4566",
        "wsgi.input": io.BytesIO(body),
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ListTables" if service == "dynamodb" else "",
    }
    if service is not None:
        environ["HTTP_AUTHORIZATION"] = _SCOPE.format(service=service)
    return environ


REQUESTS = [
    ("s3", "/bucket/key"),
    ("sqs", "/"),
    ("sns", "/"),
    ("lambda", "/2015-03-31/functions"),
    ("states", "/"),
    ("dynamodb", "/"),
    ("cloudformation", "/"),
    ("events", "/"),
    ("execute-api", "/"),
    (None, "/moto-api/reset"),
    (None, "/"),  # unsigned: moto's default, S3
]


@pytest.mark.parametrize(("service", "path"), REQUESTS)
def test_the_cached_dispatcher_picks_the_backend_moto_picks(service: str | None, path: str) -> None:
    # Given moto's dispatcher and ours, with apps that only name their backend
    moto_dispatch = DomainDispatcherApplication(lambda backend: backend)
    ours = CachedDispatcher(lambda backend: backend)
    # When each routes the same request, twice for ours (the second from its cache)
    expected = moto_dispatch.get_application(_environ(service, path))
    first = ours.get_application(_environ(service, path))
    second = ours.get_application(_environ(service, path))
    # Then all three name the same backend
    assert first == second == expected


def test_the_cached_dispatcher_resolves_a_host_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given our dispatcher, counting moto's host lookups
    ours = CachedDispatcher(lambda backend: backend)
    calls: list[str | None] = []
    original = DomainDispatcherApplication.get_backend_for_host

    def counting(self: Any, host: str | None) -> Any:
        calls.append(host)
        return original(self, host)

    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", counting)
    # When a hundred SQS requests arrive
    for _ in range(100):
        assert ours.get_application(_environ("sqs")) == "sqs"
    # Then moto looked each host up once
    assert sorted(calls, key=str) == sorted(set(calls), key=str)
    assert len(calls) <= 2  # "no host" and sqs.us-east-1.amazonaws.com


def test_a_definition_is_parsed_once_and_executions_share_it() -> None:
    # Given the interpreter's patches and a definition never parsed before
    sfn_interpreter.install()
    definition = json.dumps(
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": {"unique": "parsed-once"}, "End": True}}}
    )
    # When it is parsed twice
    first = sfn_interpreter._parse_and_attach(definition)
    second = sfn_interpreter._parse_and_attach(definition)
    # Then the second is the first
    assert second[0] is first[0]


def test_a_definition_that_does_not_parse_fails_every_time() -> None:
    # Given a definition moto's grammar refuses
    sfn_interpreter.install()
    definition = '{"StartAt": "A", "States": {"A": {"Type": "Nope"}}}'
    # When it is parsed twice, then both fail (a failure is never cached as a program)
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - moto raises its parser's own exception types
            sfn_interpreter._parse_and_attach(definition)
    assert definition not in sfn_interpreter._programs


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 5}}}}),
        "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Ref Name\n",
        json.dumps(load_template(ROOT / "template.yaml")),
    ],
)
def test_a_stack_body_reads_as_moto_reads_it(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given moto's own reading of a template body (JSON, or YAML with a short-form tag)
    moto_reads = lifecycle._originals.get("parse_template", FakeStack.parse_template)
    monkeypatch.setitem(lifecycle._originals, "parse_template", moto_reads)
    # When the embedded AWS's CloudFormation reads it
    # Then the document is the same
    assert lifecycle._parse_template(body) == moto_reads(body)


def test_sqs_reads_the_same_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the embedded AWS's SQS clock
    monkeypatch.setitem(sqs._originals, "unix_time", unix_time)
    # Then now is now, to the millisecond, and a given time converts as moto converts it
    assert abs(sqs._unix_time() - unix_time()) < 0.5
    assert abs(sqs._unix_time_millis() - unix_time_millis()) < 500
    from datetime import datetime

    moment = datetime(2026, 1, 2, 3, 4, 5, 600000)
    assert sqs._unix_time_millis(moment) == unix_time_millis(moment)


def test_a_json_definition_file_reads_as_json_and_a_yaml_one_as_yaml(tmp_path: Path) -> None:
    # Given the same definition as JSON (with a number YAML 1.1 would read as text) and as YAML
    document = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1e-05, "End": True}}}
    as_json = tmp_path / "d.asl.json"
    as_json.write_text(json.dumps(document))
    as_yaml = tmp_path / "d.asl.yaml"
    as_yaml.write_text("StartAt: W\nStates:\n  W:\n    Type: Wait\n    Seconds: 1\n    End: true\n")
    # When each is read
    # Then JSON keeps JSON's meaning, YAML is YAML
    assert _definition(as_json) == document
    assert _definition(as_yaml)["States"]["W"] == {"Type": "Wait", "Seconds": 1, "End": True}


def test_error_tables_are_the_ones_moto_builds() -> None:
    # Given moto's table of S3's errors, and the embedded AWS's cached one
    from moto.core.errors import ErrorLookupFactory
    from moto.core.utils import get_service_model

    from embedded_aws.server import _error_lookup_for_service

    model = get_service_model("s3")
    expected = ErrorLookupFactory._create_error_lut(model)
    # When the cached one is asked twice
    first = _error_lookup_for_service(None, model)
    second = _error_lookup_for_service(None, model)
    # Then it is built once and maps every code as moto's does
    assert first is second
    assert first._code_to_error.keys() == expected._code_to_error.keys()
    assert first.from_code("NoSuchKey").name == expected.from_code("NoSuchKey").name
