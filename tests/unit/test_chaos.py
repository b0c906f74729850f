"""The plan of `pipeline chaos`: repeatable from its seed, and the model the public records must equal."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from pipeline.cli import app as cli
from pipeline.cli import chaos


def test_the_plan_is_the_same_for_the_same_seed_and_its_model_is_the_highest_sequence() -> None:
    # Given two plans from one seed and one from another
    first, again, other = (
        chaos.plan_changes(40, seed=5),
        chaos.plan_changes(40, seed=5),
        chaos.plan_changes(40, seed=6),
    )

    # Then the same seed gives the same events in the same order, another seed others
    assert [e.text for e in first] == [e.text for e in again] != [e.text for e in other]
    # And the model holds, per record, its valid event with the highest sequence
    model = chaos.model(first)
    valid = [e.event for e in first if isinstance(e.event, dict)]
    assert set(model) == {e["id"] for e in valid}
    for record, event in model.items():
        assert event["sequence"] == max(e["sequence"] for e in valid if e["id"] == record)


def test_the_files_mix_good_bad_and_new_versions_and_bad_ones_name_their_reason() -> None:
    # Given a plan of 60 files
    files = chaos.plan_files(60, seed=1)

    # Then about a sixth are bad, each expecting its refusal reason, and some names come twice
    bad = [f for f in files if f.expected != "published"]
    assert 5 <= len(bad) <= 20
    assert {f.expected for f in bad} <= {"unsupported_type", "corrupt_image", "empty_file", "polyglot"}
    again = [f.name for f in files if [g.name for g in files].count(f.name) > 1]
    assert again and all(f.expected == "published" for f in files if f.name in again)


def test_the_report_reads_in_80_columns_and_is_not_ok_when_anything_was_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a report where one record was lost and two messages were parked and redriven
    report = chaos.ChaosReport(
        faults="crash 10%, throttle 5%, aws-errors 5%, duplicate 10%, seed 7",
        files=300,
        bad_files=47,
        reuploads=33,
        change_events=300,
        duplicate_events=30,
        invalid_events=15,
        records=50,
        injected={"crash": 289, "throttle": 164, "aws-errors": 603, "duplicate": 350},
        settle_s=306.2,
        files_done_s=185.5,
        records_done_s=164.5,
        parked={"failed-uploads": 1, "failed-changes": 1},
        lost=["records: c-001: public sequence 3, expected 4"],
    )
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80))
    monkeypatch.setattr(cli, "errors", Console(file=err, width=80))

    # When it is printed
    cli._chaos_tables(report)

    # Then every line fits 80 columns, the figures are there, and the loss is named and not ok
    lines = out.getvalue().splitlines()
    assert lines and all(len(line) <= 80 for line in lines), out.getvalue()
    assert "failed-uploads 1, failed-changes 1" in out.getvalue()
    assert "files done at 185.5 s" in out.getvalue()
    assert "c-001" in err.getvalue()
    assert not report.ok and report.recovered == 0
    assert report.to_json()["ok"] is False


class _Logs:
    """A CloudWatch Logs client with one workflow log group's events, as the workflows write them."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages

    def get_paginator(self, name: str) -> _Logs:
        assert name == "filter_log_events"
        return self

    def paginate(self, logGroupName: str) -> list[dict[str, list[dict[str, str]]]]:  # noqa: N803 - boto3's
        assert logGroupName == "/aws/vendedlogs/states/file"
        return [{"events": [{"message": m} for m in self.messages]}]


def test_when_work_is_lost_the_report_names_the_workflows_that_failed_and_why() -> None:
    # Given a workflow log group holding a success, a failure and a line that is not JSON
    failed = {
        "type": "ExecutionFailed",
        "execution_arn": "arn:aws:states:us-east-1:1:express:file:run-0123456789ab",
        "details": {"error": "Lambda.AccessDeniedException", "cause": "not authorized"},
    }
    logs = _Logs(['{"type": "ExecutionSucceeded", "details": {}}', json.dumps(failed), "plain text"])
    watch = object.__new__(chaos._Watch)
    watch.stack = type("Stack", (), {"client": staticmethod(lambda service: logs)})()
    watch.workflow_logs = ["/aws/vendedlogs/states/file"]

    # When the failed executions are read, Then only the failure is named, with its error and cause
    assert watch.failed_workflows() == [
        "ExecutionFailed 0123456789ab: Lambda.AccessDeniedException: not authorized"
    ]
