"""The CLI commands that read local state (no server is started here)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from pipeline.cli import app

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
