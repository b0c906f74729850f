"""The project's template.yaml on the embedded AWS, driven by boto3, by the AWS CLI and by `pipeline up`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from embedded_aws.stack import poll_until
from pipeline.adapters.clients import client
from pipeline.cli import samples
from pipeline.logic.keys import item_id
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.stack

BIN = Path(sys.executable).parent


def _children(parent: int) -> list[int]:
    """Process ids whose parent is `parent` (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout_s: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"`pipeline up` did not print {text!r} in {timeout_s} s:\n{''.join(lines)}")


def _pipeline(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a `pipeline` command to completion (wide output, so table cells are not folded)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(BIN / "pipeline"), *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )


def test_pipeline_up_serves_the_aws_cli_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    # Given `pipeline up` running the project's template on a free port
    port = free_port()
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            str(BIN / "pipeline"),
            "up",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path),
            "--stack-name",
            "demo",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_line(process, "Ready", timeout_s=90)
        endpoint = f"http://127.0.0.1:{port}"
        aws_cli = [str(BIN / "aws"), "--endpoint-url", endpoint, "--region", "us-east-1"]

        # When the real AWS CLI asks CloudFormation about the stack
        described = subprocess.run(
            [
                *aws_cli,
                "--output",
                "json",
                "cloudformation",
                "describe-stacks",
                "--stack-name",
                "demo",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )

        # Then it sees CREATE_COMPLETE and the template's Outputs
        stack = json.loads(described.stdout)["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert {"IngestBucketName", "UploadEventsTopicArn", "MetadataTableName"} <= set(outputs)

        # ...and `pipeline subscribe` signs up a follower of collection c; `pipeline subscriptions` lists it
        cli = ["--stack-name", "demo", "--endpoint-url", endpoint]
        subscribed = _pipeline("subscribe", "--email", "follower@example.com", "--collection", "c", *cli)
        assert subscribed.returncode == 0, subscribed.stdout + subscribed.stderr
        listed = _pipeline("subscriptions", *cli)
        assert "follower@example.com" in listed.stdout and "confirmed" in listed.stdout
        as_json = json.loads(_pipeline("subscriptions", "--json", *cli).stdout)
        assert [(s["endpoint"], s["pending"]) for s in as_json] == [("follower@example.com", False)]
        assert as_json[0]["arn"].startswith(outputs["UserNotificationsTopicArn"] + ":")
        missing = _pipeline("status", "--stack-name", "nope", "--endpoint-url", endpoint)
        assert missing.returncode == 1 and "No stack 'nope'" in missing.stderr

        # ...and `aws s3 cp` of a photo with GPS into the ingest bucket publishes it within seconds
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(samples.photo_jpeg(1200, 900, orientation=6, gps=True))
        subprocess.run(
            [
                *aws_cli,
                "s3",
                "cp",
                str(photo),
                f"s3://{outputs['IngestBucketName']}/uploads/c/p.jpg",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        s3 = client("s3", endpoint_url=endpoint, region="us-east-1")
        public = outputs["PublicBucketName"]
        key = f"items/{item_id(outputs['IngestBucketName'], 'uploads/c/p.jpg')}.json"

        def published(key: str) -> dict[str, Any] | None:
            try:
                document: dict[str, Any] = json.loads(s3.get_object(Bucket=public, Key=key)["Body"].read())
            except s3.exceptions.NoSuchKey:
                return None
            return document

        began = time.monotonic()
        item = poll_until(partial(published, key), timeout_s=60, interval_s=0.2)
        assert item is not None, "items/<id>.json did not appear within 60 s"
        print(f"published in {time.monotonic() - began:.1f} s")
        # ...with thumbnails of the configured widths (the template's defaults) that carry no EXIF or GPS
        assert [t["width"] for t in item["thumbnails"]] == [128, 512, 900]
        for thumbnail in item["thumbnails"]:
            thumb_key = thumbnail["url"].removeprefix(outputs["PublicBaseUrl"] + "/")
            image = Image.open(io.BytesIO(s3.get_object(Bucket=public, Key=thumb_key)["Body"].read()))
            assert not image.getexif() and "exif" not in image.info

        # ...and the follower is told, as `pipeline outbox` shows; `pipeline unsubscribe` stops it
        def told() -> str:
            shown = _pipeline("outbox", "--state-dir", str(tmp_path), "--to", "follower@example.com").stdout
            return shown if "Published: p.jpg (c, v1)" in shown else ""

        outbox = poll_until(told, timeout_s=30, interval_s=0.5)
        assert outbox and "1 message(s)" in outbox and "48.8" not in outbox
        unsubscribed = _pipeline("unsubscribe", "--email", "follower@example.com", *cli)
        assert unsubscribed.returncode == 0, unsubscribed.stdout + unsubscribed.stderr
        assert "follower@example.com" not in _pipeline("subscriptions", *cli).stdout

        # ...and `pipeline ingest --wait` uploads another file and reports its outcome
        ingest = subprocess.run(
            [
                str(BIN / "pipeline"),
                "ingest",
                str(photo),
                "--collection",
                "cli",
                "--wait",
                "--stack-name",
                "demo",
                "--endpoint-url",
                endpoint,
            ],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=120,
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert "published" in ingest.stdout and "photo.jpg" in ingest.stdout
        # ...and `pipeline status --json` lists both items by their whole ids
        items = json.loads(_pipeline("status", "--json", *cli).stdout)
        ids = {
            item_id(outputs["IngestBucketName"], key) for key in ("uploads/c/p.jpg", "uploads/cli/photo.jpg")
        }
        assert {i["item_id"] for i in items} == ids

        # ...and `aws sns publish` of a change event updates records/<entity>/<id>.json
        event_file = ROOT / "events" / "samples" / "change-events" / "valid" / "insert.json"
        subprocess.run(
            [
                *aws_cli,
                "sns",
                "publish",
                "--topic-arn",
                outputs["ChangeEventsTopicArn"],
                "--message",
                f"file://{event_file}",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )

        document = poll_until(partial(published, "records/product/p-1.json"), timeout_s=60, interval_s=0.2)
        assert document is not None and document["data"] == {"name": "Kettle", "price": 25}

        # ...and `pipeline emit` sends a valid event and refuses an invalid one with its schema path
        emit = [str(BIN / "pipeline"), "emit", "--stack-name", "demo", "--endpoint-url", endpoint]
        sent = subprocess.run(
            [*emit, "--entity", "product", "--id", "p-2", "--sequence", "1", "--data", '{"name": "Mug"}'],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=60,
        )
        assert sent.returncode == 0 and "1 of 1 sent" in sent.stdout, sent.stdout + sent.stderr
        refused = subprocess.run(
            [*emit, "--entity", "product", "--id", "p-3", "--sequence", "-4", "--op", "delete"],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=60,
        )
        assert refused.returncode == 1 and "schema_violation" in refused.stdout
        assert "$.sequence" in refused.stdout

        # ...and the Lambda workers that did it are child processes of `pipeline up`
        started = _children(process.pid)
        assert started

        # When it is sent SIGTERM, Then it stops by itself, cleanly, and no worker process outlives it
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        for pid in started:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_pipeline_up_refuses_an_unsupported_template_with_a_clear_error(tmp_path: Path) -> None:
    # Given a template with a resource type the embedded AWS cannot create
    # When `pipeline up` is asked to deploy it
    result = subprocess.run(
        [
            str(BIN / "pipeline"),
            "up",
            "--port",
            str(free_port()),
            "--state-dir",
            str(tmp_path),
            "--template",
            str(ROOT / "tests" / "fixtures" / "templates" / "unsupported.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "300"},
    )
    # Then it exits non-zero, naming the reason code, the type and the resource
    assert result.returncode == 1
    assert "[unsupported_resource]" in result.stderr
    assert "AWS::AppSync::GraphQLApi (Api)" in result.stderr
