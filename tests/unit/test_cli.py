"""The CLI commands that read local state (no server is started here)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli.app import app

runner = CliRunner()


def test_outbox_prints_each_message(tmp_path: Path) -> None:
    # Given an outbox with one email and one SMS
    entries = [
        {
            "time": "t1",
            "protocol": "email",
            "endpoint": "ada@example.com",
            "subject": "Hi",
            "message": "Body",
        },
        {"time": "t2", "protocol": "sms", "endpoint": "+15555550100", "subject": None, "message": "Short"},
    ]
    (tmp_path / "outbox.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))

    # When `pipeline outbox` reads it
    result = runner.invoke(app, ["outbox", "--state-dir", str(tmp_path)], env={"COLUMNS": "200"})

    # Then both are shown, with recipient and text
    assert result.exit_code == 0, result.output
    assert "Outbox: 2 message(s)" in result.output
    for text in ("ada@example.com", "Hi", "Body", "+15555550100", "Short"):
        assert text in result.output


def test_outbox_with_nothing_sent_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["outbox", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "Outbox: 0 message(s)" in result.output


def test_a_parameter_without_a_value_is_refused_before_anything_starts() -> None:
    result = runner.invoke(app, ["up", "--param", "NoEquals", "--port", "1"], env={"COLUMNS": "200"})
    assert result.exit_code != 0
    assert "is not NAME=VALUE" in result.output


def test_outbox_shows_one_recipient_with_to(tmp_path: Path) -> None:
    # Given an outbox with messages for two recipients
    entries = [
        {"time": "t1", "protocol": "email", "endpoint": "ada@example.com", "subject": "Hi", "message": "A"},
        {"time": "t2", "protocol": "email", "endpoint": "bob@example.com", "subject": "Yo", "message": "B"},
    ]
    (tmp_path / "outbox.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    # When one recipient's are asked for
    result = runner.invoke(app, ["outbox", "--state-dir", str(tmp_path), "--to", "bob@example.com"])
    # Then only theirs are shown
    assert result.exit_code == 0, result.output
    assert "Outbox: 1 message(s)" in result.output and "bob@example.com" in result.output
    assert "ada@example.com" not in result.output


def test_subscribe_refuses_an_invalid_phone_number_before_contacting_aws() -> None:
    # Given no stack at all (the endpoint is unreachable)
    result = runner.invoke(
        app,
        ["subscribe", "--sms", "555-0100", "--endpoint-url", "http://127.0.0.1:9"],
        env={"COLUMNS": "200"},
    )
    # Then the number is refused with what to fix, and nothing was attempted
    assert result.exit_code == 1
    assert "invalid_subscription" in result.output and "start with + and the country code" in result.output


def test_subscribe_refuses_an_implausible_email_and_unknown_event_types() -> None:
    bad_email = runner.invoke(
        app,
        ["subscribe", "--email", "reader@", "--endpoint-url", "http://127.0.0.1:9"],
        env={"COLUMNS": "200"},
    )
    assert bad_email.exit_code == 1 and "not a plausible email address" in bad_email.output
    bad_events = runner.invoke(
        app,
        ["subscribe", "--email", "r@example.com", "--events", "published,exploded", "--endpoint-url", "x"],
        env={"COLUMNS": "200"},
    )
    assert bad_events.exit_code == 1 and "exploded" in bad_events.output


def test_subscribe_wants_exactly_one_of_email_or_sms() -> None:
    both = runner.invoke(app, ["subscribe", "--email", "r@example.com", "--sms", "+14155550123"])
    neither = runner.invoke(app, ["subscribe"])
    assert both.exit_code == 2 and neither.exit_code == 2


def test_a_command_with_no_stack_to_talk_to_says_how_to_start_one() -> None:
    # Given nothing listening on the endpoint
    result = runner.invoke(app, ["status", "--endpoint-url", "http://127.0.0.1:9"], env={"COLUMNS": "200"})
    # Then the command fails with what to do, not a traceback
    assert result.exit_code == 1
    assert "stack_not_found" in result.output and "pipeline up" in result.output
    assert "Traceback" not in result.output
