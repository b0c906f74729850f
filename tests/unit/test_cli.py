"""The CLI commands that read local state (no server is started here)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
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


# --json on every table command, and tables that fit an 80-column terminal (issue 11, point 9).

import signal  # noqa: E402
from types import SimpleNamespace  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

import pytest  # noqa: E402

from embedded_aws.runtime import FunctionStats  # noqa: E402
from embedded_aws.stack import DeployedStack  # noqa: E402
from pipeline.adapters.subscriptions import Subscription  # noqa: E402
from pipeline.cli import app as app_module  # noqa: E402
from pipeline.cli import replay as replay_module  # noqa: E402
from pipeline.cli import uploads  # noqa: E402
from pipeline.cli.replay import Replayed  # noqa: E402
from pipeline.models import ImageInfo, ItemState, ObjectRef, VersionRecord  # noqa: E402

NARROW = {"COLUMNS": "80"}
ITEM_ID = "0123456789abcdef01234567"
VERSION_ID = "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY_long_version_id"
TOPIC = "arn:aws:sns:us-east-1:123456789012:pipeline-UserNotificationsTopic-ABCDEFGHIJKL"
LONG_QUEUE = (
    "https://sqs.us-east-1.amazonaws.com/123456789012/pipeline-FailedChangesDeadLetterQueue-OF9996QOGNEA"
)


def _fits(output: str) -> None:
    too_long = [line for line in output.splitlines() if len(line) > 80]
    assert not too_long, "\n".join(too_long)


def _fake_stack(monkeypatch: pytest.MonkeyPatch, **clients: Any) -> uploads.Stack:
    stack = uploads.Stack(
        {
            "ChangeEventsTopicArn": "arn:aws:sns:us-east-1:123456789012:pipeline-ChangeEventsTopic-X",
            "MetadataTableName": "pipeline-MetadataTable-X",
            "UserNotificationsTopicArn": TOPIC,
        },
        None,
        "us-east-1",
        dict(clients),
    )
    monkeypatch.setattr(app_module, "_stack", lambda *_: stack)
    return stack


def test_outbox_json_is_every_entry_whole_and_the_table_fits_80_columns(tmp_path: Path) -> None:
    # Given an outbox holding an email with a long subject and a long body
    body = "The file a-very-long-file-name-of-a-holiday-photo.jpg was published. " * 5
    entry = {
        "time": "2026-11-30T11:17:05.123Z",
        "protocol": "email",
        "endpoint": "a-rather-long-address@example.com",
        "subject": "Published: a-very-long-file-name-of-a-holiday-photo.jpg (holidays-2026, v12)",
        "message": body,
        "message_id": "4d382a35-0022-48f3-b1a6-2ab6727a7bb3",
    }
    (tmp_path / "outbox.jsonl").write_text(json.dumps(entry) + "\n")

    # When `pipeline outbox` prints it as JSON, and as a table at 80 columns
    as_json = runner.invoke(app, ["outbox", "--state-dir", str(tmp_path), "--json"], env=NARROW)
    as_table = runner.invoke(app, ["outbox", "--state-dir", str(tmp_path)], env=NARROW)

    # Then the JSON is the entry as written; the table fits, with the body below it, whole
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [entry]
    assert as_table.exit_code == 0, as_table.output
    _fits(as_table.output)
    assert "a-rather-long-address@example.com" in as_table.output  # not folded
    table, _, below = as_table.output.partition("#1 to a-rather-long-address@example.com:")
    assert "was published" not in table
    assert " ".join(below.split()) == body.strip()


def test_up_json_is_the_deployed_stack_whole_and_its_tables_fit_80_columns(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given an embedded AWS (faked) whose deploy returns a stack with long physical ids and Output values
    function = "pipeline-StartChangeWorkflowFunction-NTWIIXMM48B4"
    stack = DeployedStack(
        "pipeline",
        "CREATE_COMPLETE",
        {"FailedChangesQueueUrl": LONG_QUEUE, "UserNotificationsTopicArn": TOPIC, "Bucket": "pipeline-b-1"},
        {
            "StartChangeWorkflowFunction": ("AWS::Lambda::Function", function),
            "FailedChangesDeadLetterQueue": ("AWS::SQS::Queue", LONG_QUEUE),
            "UserNotificationsTopic": ("AWS::SNS::Topic", TOPIC),
        },
        seconds=2.5,
    )
    handlers: dict[int, Any] = {}
    monkeypatch.setattr(signal, "signal", lambda signum, handler: handlers.update({signum: handler}))

    def deploy(*_: Any) -> DeployedStack:
        handlers[signal.SIGTERM](signal.SIGTERM, None)  # stopped as soon as it is ready
        return stack

    stats = FunctionStats(invocations=2, total_ms=30.0, interpreter="Python 3.11 (host)")
    config = SimpleNamespace(handler="pipeline.handlers.start_change_workflow.handler")
    aws = SimpleNamespace(
        deploy=deploy,
        stop=lambda: None,
        faults=None,
        endpoint_url="http://127.0.0.1:4566",
        oidc_issuer="http://127.0.0.1:4566/_local/oidc",
        outbox=SimpleNamespace(path=tmp_path / "outbox.jsonl"),
        runtime=SimpleNamespace(
            log_dir=tmp_path / "logs", stats=lambda: {function: (config, stats, tmp_path / f"{function}.log")}
        ),
    )
    monkeypatch.setattr(app_module, "_start", lambda *_, **__: aws)

    # When `pipeline up` runs with --json, and without at 80 columns
    as_json = runner.invoke(app, ["up", "--json"], env=NARROW)
    as_table = runner.invoke(app, ["up"], env=NARROW)

    # Then the JSON document carries the whole ids, Output values and function names, and nothing else
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["outputs"]["FailedChangesQueueUrl"] == LONG_QUEUE
    assert {"logical_id": "UserNotificationsTopic", "type": "AWS::SNS::Topic", "physical_id": TOPIC} in (
        document["resources"]
    )
    assert document["functions"][0]["name"] == function
    assert document["functions"][0]["logical_id"] == "StartChangeWorkflow"
    assert document["functions"][0]["mean_ms"] == 15.0
    # ...and the tables fit, each Output named whole (not folded), the ARNs and URLs by their name
    assert as_table.exit_code == 0, as_table.output
    _fits(as_table.output)
    assert "FailedChangesDeadLetterQueue-OF9996QOGNEA" in as_table.output
    assert "pipeline-b-1" in as_table.output and "StartChangeWorkflow " in as_table.output


def test_up_enforces_iam_unless_told_no_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an embedded AWS that fails to start, recording how it was asked to start
    asked: list[bool] = []

    def start(*_: Any, enforce_iam: bool = True, **__: Any) -> Any:
        asked.append(enforce_iam)
        raise typer.Exit(3)

    monkeypatch.setattr(app_module, "_start", start)

    # When `pipeline up` runs plainly and with --no-iam
    plain = runner.invoke(app, ["up"])
    without = runner.invoke(app, ["up", "--no-iam"])

    # Then IAM is on by default and off only when asked
    assert (plain.exit_code, without.exit_code) == (3, 3)
    assert asked == [True, False]


def test_ingest_json_carries_whole_ids_and_urls_and_the_table_fits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a stack (faked) where one file is published and one refused
    _fake_stack(monkeypatch)
    url = f"https://d111111abcdef8.cloudfront.net/items/{ITEM_ID}/versions/1.json"
    outcomes = [
        uploads.Outcome("a-long-photo-name.jpg", "uploads/c/a.jpg", VERSION_ID, ITEM_ID, 0.0, "published"),
        uploads.Outcome("notes.jpg", "uploads/c/notes.jpg", "v2", "fedcba9876543210fedcba98", 0.0),
    ]
    outcomes[0].version, outcomes[0].latest, outcomes[0].url, outcomes[0].seconds = 1, True, url, 1.5
    outcomes[0].thumbnails = [128, 512, 1024]
    outcomes[1].state, outcomes[1].reason = "quarantined", "unsupported_type"
    outcomes[1].detail = "The file's content is not an image type we accept (JPEG, PNG, WebP, GIF or AVIF)."
    monkeypatch.setattr(uploads, "upload_paths", lambda *_, **__: outcomes)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")

    # When `pipeline ingest` reports them as JSON and as a table
    as_json = runner.invoke(app, ["ingest", str(photo), "--json"], env=NARROW)
    as_table = runner.invoke(app, ["ingest", str(photo)], env=NARROW)

    # Then the JSON has the whole item id, S3 version and URL; the table fits with short ids
    assert as_json.exit_code == 0, as_json.output
    published, refused = json.loads(as_json.stdout)
    assert (published["item_id"], published["version_id"], published["url"]) == (ITEM_ID, VERSION_ID, url)
    assert refused["reason"] == "unsupported_type" and "started" not in refused
    _fits(as_table.output)
    assert ITEM_ID[: app_module.SHORT_ID] in as_table.output and url not in as_table.output
    assert f"items/{ITEM_ID}/versions/1.json" in as_table.output


class FakeSns:
    """Answers PublishBatch with a message id per entry."""

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> Any:  # noqa: N803
        return {
            "Successful": [
                {"Id": e["Id"], "MessageId": f"{n:08d}-0000-4000-8000-00000000abcd"}
                for n, e in enumerate(PublishBatchRequestEntries)
            ],
            "Failed": [],
        }


def test_emit_json_carries_whole_message_ids_and_the_table_fits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a stack (faked) and two events, one valid, one with a negative sequence
    _fake_stack(monkeypatch, sns=FakeSns())
    base = {"schema_version": 1, "source": "crm", "occurred_at": "2026-11-30T10:00:00Z"}
    events = [
        {**base, "entity": "product", "id": "p-1", "op": "upsert", "sequence": 1, "data": {"n": 1}},
        {**base, "entity": "product", "id": "p-2", "op": "delete", "sequence": -4},
    ]
    source = tmp_path / "events.json"
    source.write_text(json.dumps(events))

    # When `pipeline emit` sends them, reporting as JSON and as a table
    as_json = runner.invoke(app, ["emit", str(source), "--json"], env=NARROW)
    as_table = runner.invoke(app, ["emit", str(source)], env=NARROW)

    # Then the JSON has each event's whole message id or its refusal; the table fits, the why below it
    assert as_json.exit_code == 1, as_json.output
    sent, refused = json.loads(as_json.stdout)
    assert sent["ok"] and sent["message_id"] == "00000000-0000-4000-8000-00000000abcd"
    assert (refused["number"], refused["reason"]) == (2, "schema_violation")
    assert "$.sequence" in refused["error"]
    _fits(as_table.output)
    assert "00000000 " in as_table.output and "#2: at $.sequence" in as_table.output


def test_replay_json_counts_each_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack (faked) whose archive replays 3 change events and 2 uploads
    _fake_stack(monkeypatch)
    results = [Replayed("changes", 3, 3), Replayed("uploads", 2, 2)]
    monkeypatch.setattr(replay_module, "replay", lambda *_: results)
    # When `pipeline replay --json` runs, Then it prints the counts per kind
    as_json = runner.invoke(app, ["replay", "--since", "2026-11-01", "--json"], env=NARROW)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {
        "since": "2026-11-01T00:00:00",
        "replayed": [{"kind": "changes", "found": 3, "sent": 3}, {"kind": "uploads", "found": 2, "sent": 2}],
    }
    _fits(runner.invoke(app, ["replay", "--since", "2026-11-01"], env=NARROW).output)


class FakeMetadataTable:
    """One item with one version, as the metadata table would return them."""

    def __init__(self, *_: Any) -> None:
        self.state_ = ItemState(
            item_id=ITEM_ID,
            collection="holidays",
            latest=1,
            versions=1,
            updated_at="2026-11-30T11:33:21.716Z",
        )

    def items(self) -> list[ItemState]:
        return [self.state_]

    def state(self, item_id: str) -> ItemState | None:
        return self.state_ if item_id == ITEM_ID else None

    def version(self, item_id: str, version: int) -> VersionRecord:
        return VersionRecord(
            item_id=item_id,
            version=version,
            collection="holidays",
            name="a-rather-long-file-name.jpg",
            source=ObjectRef(bucket="ingest", key="uploads/holidays/a.jpg", version_id=VERSION_ID),
            image=ImageInfo(format="JPEG", mime="image/jpeg", width=4000, height=3000),
            bytes=12_345_678,
            sha256="0" * 64,
            recorded_at="2026-11-30T11:33:21.716Z",
        )


def test_status_json_carries_whole_ids_and_its_tables_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack (faked) with one recorded item
    from pipeline.adapters import metadata_table

    _fake_stack(monkeypatch)
    monkeypatch.setattr(metadata_table, "MetadataTable", FakeMetadataTable)

    # When `pipeline status` lists the items and shows the item by its short id, as JSON and as tables
    listed = runner.invoke(app, ["status", "--json"], env=NARROW)
    shown = runner.invoke(app, ["status", ITEM_ID[:8], "--json"], env=NARROW)
    tables = [runner.invoke(app, ["status", *args], env=NARROW) for args in ([], [ITEM_ID[:8]])]

    # Then the JSON has the whole item id and S3 version id; the tables fit and show short ids
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)[0]["item_id"] == ITEM_ID
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["item_id"] == ITEM_ID
    assert document["version_records"][0]["source"]["version_id"] == VERSION_ID
    for table in tables:
        assert table.exit_code == 0, table.output
        _fits(table.output)
        assert VERSION_ID not in table.output
    assert ITEM_ID[:8] in tables[0].output and "2026-11-30 11:33:21" in tables[1].output


class FakeSubscriptions:
    """Two subscribers, one still waiting for confirmation."""

    found: ClassVar[list[Subscription]] = [
        Subscription(
            f"{TOPIC}:6eaac15c-1440-4bb3-8b66-b0f27274d11a",
            "email",
            "a-rather-long-address@example.com",
            {"event": ["published", "failed", "deleted", "rejected"], "collection": ["holidays-2026"]},
        ),
        Subscription("PendingConfirmation", "email", "someone.else@example.org", None),
    ]

    def all(self) -> list[Subscription]:
        return self.found

    def subscribe(
        self, protocol: str, endpoint: str, policy: dict[str, list[str]]
    ) -> tuple[Subscription, bool]:
        return Subscription(f"{TOPIC}:new", protocol, endpoint, policy), False

    def unsubscribe(self, protocol: str, endpoint: str) -> list[str]:
        return [f"{TOPIC}:gone"]


def test_subscription_commands_print_json_with_whole_arns_and_the_table_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a stack (faked) with two subscribers
    monkeypatch.setattr(app_module, "_subscriptions", lambda *_: FakeSubscriptions())

    # When they are listed, and one subscribes and unsubscribes, with --json
    listed = runner.invoke(app, ["subscriptions", "--json"], env=NARROW)
    subscribed = runner.invoke(app, ["subscribe", "--email", "r@example.com", "--owner", "ada", "--json"])
    unsubscribed = runner.invoke(app, ["unsubscribe", "--email", "r@example.com", "--json"])
    table = runner.invoke(app, ["subscriptions"], env=NARROW)

    # Then each prints one JSON document with the whole ARNs (notes go to stderr)
    assert listed.exit_code == 0, listed.output
    first, second = json.loads(listed.stdout)
    assert first["arn"] == FakeSubscriptions.found[0].arn and not first["pending"] and second["pending"]
    assert json.loads(subscribed.stdout)["subscription_arn"] == f"{TOPIC}:new"
    assert json.loads(subscribed.stdout)["filter_policy"]["owner"] == ["ada"]
    assert json.loads(unsubscribed.stdout) == {
        "protocol": "email",
        "endpoint": "r@example.com",
        "removed": [f"{TOPIC}:gone"],
    }
    # ...and the table fits 80 columns, endpoints whole, the pending one marked
    assert table.exit_code == 0, table.output
    _fits(table.output)
    assert "a-rather-long-address@example.com" in table.output and "email*" in table.output
    assert "1 pending confirmation" in table.output
