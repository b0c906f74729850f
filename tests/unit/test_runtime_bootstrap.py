"""The worker bootstrap as Lambda's Python runtime behaves: handler faults, marshalling, log lines."""

from __future__ import annotations

import ast
import io
import json
import logging
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from embedded_aws import bootstrap


@pytest.fixture
def code_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A function's code directory, first on the path, with its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def test_the_bootstrap_is_python_39_syntax() -> None:
    # Given the bootstrap's source, When it is parsed as Python 3.9, Then it parses (it runs on python3.9 too)
    ast.parse(Path(bootstrap.__file__).read_text(), feature_version=(3, 9))


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {},
            "h2_absent.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'h2_absent': No module named 'h2_absent'",
        ),
        (
            {"h2_syntax.py": "def handler(:\n"},
            "h2_syntax.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'h2_syntax': ",
        ),
        (
            {"h2_nohandler.py": "x = 1\n"},
            "h2_nohandler.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'h2_nohandler'",
        ),
        ({}, "nodots", "Runtime.MalformedHandlerName", "Bad handler 'nodots': "),
        (
            {},
            "sys.handler",
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module sys as a handler module",
        ),
    ],
)
def test_handler_faults_carry_lambdas_types_and_words(
    code_dir: Path, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    # Given a code directory and a handler string that cannot be loaded
    for name, text in files.items():
        (code_dir / name).write_text(text)

    # When the handler is loaded, Then the fault reads as Lambda's runtime reports it
    with pytest.raises(bootstrap.FaultError) as fault:
        bootstrap.load_handler(handler)
    assert fault.value.error_type == error_type
    assert fault.value.message.startswith(message)


def test_a_handler_in_a_folder_is_found_by_path_or_dotted_name(code_dir: Path) -> None:
    # Given src/handlers_h2/app.py with a handler
    (code_dir / "handlers_h2").mkdir()
    (code_dir / "handlers_h2" / "app.py").write_text("def handler(event, context):\n    return 'ok'\n")

    # When it is named by folder path or dotted path, Then the same function is found
    assert bootstrap.load_handler("handlers_h2/app.handler") is bootstrap.load_handler(
        "handlers_h2.app.handler"
    )


def test_responses_marshal_decimals_bytes_and_refuse_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the python3.13 runtime (which escapes non-ASCII characters)
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.13")

    # When values are marshalled, Then Decimals are numbers, bytes pass as they are, sets are a MarshalError
    assert json.loads(bootstrap.marshal({"a": [Decimal("1.5"), Decimal("2")]})) == {"a": [1.5, 2]}
    assert bootstrap.marshal("é") == '"\\u00e9"'
    assert bootstrap.marshal(b"raw") == "raw"
    with pytest.raises(bootstrap.FaultError) as fault:
        bootstrap.marshal({1, 2})
    assert fault.value.error_type == "Runtime.MarshalError"
    assert fault.value.message == "Unable to marshal response: Object of type set is not JSON serializable"
    # ...and python3.12's runtime writes non-ASCII characters as they are
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    assert bootstrap.marshal("é") == '"é"'


def _record(level: int, message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("orders", level, "/var/task/app.py", 7, message, (), None, func="handler")
    record.__dict__.update(extra, aws_request_id="req-1")
    record.created = 1_700_000_000.25
    record.msecs = 250.0
    return record


def test_text_lines_are_level_timestamp_request_id_message() -> None:
    # Given Lambda's text formatter, When a record is formatted, Then it is the tab-separated Lambda line
    line = bootstrap._TextFormatter().format(_record(logging.INFO, "order received"))
    assert line == "[INFO]\t2023-11-14T22:13:20.250Z\treq-1\torder received"


def test_json_lines_carry_lambdas_keys_and_extra_fields() -> None:
    # Given Lambda's JSON formatter, When a record with an extra field is formatted
    line = json.loads(bootstrap._JsonFormatter().format(_record(logging.WARNING, "stock low", sku="A-1")))

    # Then it has Lambda's keys, the extra field, and nothing empty
    assert line == {
        "timestamp": "2023-11-14T22:13:20.250Z",
        "level": "WARNING",
        "message": "stock low",
        "logger": "orders",
        "requestId": "req-1",
        "sku": "A-1",
    }


def test_an_error_is_logged_as_lambdas_runtime_logs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the function's stdout
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    # When an error document is logged in text format
    error = bootstrap.make_error(
        "boom", "ValueError", ['  File "/var/task/app.py", line 3, in handler\n'], "r"
    )
    bootstrap.log_error(error)

    # Then it is `[ERROR] Type: message` and the traceback
    assert out.getvalue().splitlines() == [
        "[ERROR] ValueError: boom",
        "Traceback (most recent call last):",
        '  File "/var/task/app.py", line 3, in handler',
    ]
