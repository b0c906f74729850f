"""The upload pipeline end to end on the embedded AWS: the project's template, real wiring, real files."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import jsonschema
import pillow_heif
import pytest
from PIL import Image

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from pipeline.adapters.subscriptions import Subscriptions
from pipeline.cli.subscribers import queue_drained
from pipeline.cli.uploads import Outcome, Stack, check, upload, wait
from pipeline.logic.notifications import filter_policy
from tests.conftest import ROOT, subscribe_queue

pytestmark = pytest.mark.stack

SCHEMAS = ROOT / "events" / "schemas" / "public"
WIDTHS = [64, 160]


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return schema


def _jpeg(
    width: int = 400, height: int = 300, *, orientation: int = 1, gps: bool = False, seed: int = 0
) -> bytes:
    image = Image.new("RGB", (width, height), (40 + seed % 200, 120, 200))
    for x in range(0, width, 20):
        image.paste((x % 255, 80, 160), (x, 0, x + 10, height))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Acme"
    exif[0x0110] = "Snapper 9"
    if gps:
        exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 17.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), quality=85)
    return buffer.getvalue()


def _heic(width: int = 400, height: int = 300, *, orientation: int = 6) -> bytes:
    """A HEIC as phones write it (EXIF orientation and the same turn as `irot`); red top-left corner."""
    image = Image.new("RGB", (width, height), (40, 120, 200))
    image.paste((255, 0, 0), (0, 0, width // 5, width // 5))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Acme"
    exif[0x0110] = "Snapper 9"
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80, exif=exif.tobytes())
    return buffer.getvalue()


def _first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _png(size: int = 48, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (size, size), (seed % 256, 0, 0, 128)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pipeline_stack(aws: EmbeddedAws) -> Iterator[tuple[DeployedStack, Stack]]:
    deployed = aws.deploy(
        ROOT / "template.yaml",
        "uploads",
        {"ThumbnailWidths": ",".join(map(str, WIDTHS)), "MaxUploadBytes": "300000"},
    )
    yield deployed, Stack(deployed.outputs, aws.endpoint_url, aws.region)
    aws.delete("uploads")


@pytest.fixture(scope="module")
def item_events(aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]) -> str:
    """A queue subscribed to ItemEvents, as any other consumer would subscribe its own."""
    deployed, _ = pipeline_stack
    return subscribe_queue(aws, deployed.outputs["ItemEventsTopicArn"], "test-item-events")


def _drain(aws: EmbeddedAws, queue_url: str) -> list[dict[str, Any]]:
    """Every message waiting in a queue, decoded (and deleted)."""
    return [json.loads(body) for body in _drain_raw(aws, queue_url)]


def _drain_raw(aws: EmbeddedAws, queue_url: str) -> list[str]:
    """Every message body waiting in a queue (and deleted)."""
    sqs = aws.client("sqs")
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in batch)
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def _public(aws: EmbeddedAws, stack: Stack, key: str) -> Any:
    body = aws.client("s3").get_object(Bucket=stack.outputs["PublicBucketName"], Key=key)
    return body


def _settled(stack: Stack, outcomes: list[Outcome], timeout_s: float = 90) -> list[Outcome]:
    wait(stack, outcomes, timeout_s)
    pending = [o.name for o in outcomes if o.state == "pending"]
    assert not pending, f"no outcome within {timeout_s} s for {pending}"
    return outcomes


def test_a_photo_is_published_with_thumbnails_versioned_metadata_and_an_event(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack], item_events: str
) -> None:
    # Given a rotated photo with GPS and camera EXIF, and an owner set as S3 user metadata
    _, stack = pipeline_stack
    photo = _jpeg(orientation=6, gps=True)

    # When it is dropped into the ingest bucket
    [outcome] = _settled(
        stack, upload(stack, [("tom.jpg", photo)], "cats", metadata={"title": "Tom"}, owner="ada")
    )

    # Then it is published as the latest version 1 with thumbnails of the configured widths
    assert (outcome.state, outcome.version, outcome.latest) == ("published", 1, True)
    assert sorted(outcome.thumbnails) == WIDTHS
    item = json.loads(_public(aws, stack, f"items/{outcome.item_id}.json")["Body"].read())
    jsonschema.validate(item, _schema("item"))
    assert (item["title"], item["owner"], item["versions"]) == ("Tom", "ada", 1)
    assert (item["image"]["width"], item["image"]["height"]) == (300, 400)  # as displayed: orientation 6
    assert (item["metadata"]["camera_make"], item["metadata"]["camera_model"]) == ("Acme", "Snapper 9")
    assert "gps" not in json.dumps(item).lower()
    assert item["source"] == {"key": "uploads/cats/tom.jpg", "version_id": outcome.version_id}
    assert all(t["url"].startswith(stack.outputs["PublicBaseUrl"]) for t in item["thumbnails"])

    # ...the thumbnails are portrait (orientation applied), immutable, and carry no EXIF at all
    for thumbnail in item["thumbnails"]:
        key = thumbnail["url"].removeprefix(stack.outputs["PublicBaseUrl"] + "/")
        assert key == f"thumbs/{outcome.item_id}/1/{thumbnail['width']}.webp"
        stored = _public(aws, stack, key)
        assert "immutable" in stored["CacheControl"]
        assert stored["ContentType"] == "image/webp"
        image = Image.open(io.BytesIO(stored["Body"].read()))
        assert image.width == thumbnail["width"] and image.height > image.width
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info

    # ...the documents have the right types and cache lifetimes, and validate against their schemas
    version_doc = _public(aws, stack, f"items/{outcome.item_id}/versions/1.json")
    assert version_doc["ContentType"].startswith("application/json")
    assert "immutable" in version_doc["CacheControl"]
    assert "max-age=60" in _public(aws, stack, f"items/{outcome.item_id}.json")["CacheControl"]
    jsonschema.validate(json.loads(version_doc["Body"].read()), _schema("item"))
    listing = json.loads(_public(aws, stack, "collections/cats.json")["Body"].read())
    jsonschema.validate(listing, _schema("collection"))
    assert [e["id"] for e in listing["items"]] == [outcome.item_id]
    index = json.loads(_public(aws, stack, "index.json")["Body"].read())
    jsonschema.validate(index, _schema("index"))
    assert {k: v for k, v in index["collections"][0].items() if k in ("name", "count")} == {
        "name": "cats",
        "count": 1,
    }

    # ...and followers can hear of it: a "published" ItemEvents message with filterable attributes
    def published() -> list[dict[str, Any]]:
        return [m for m in _drain(aws, item_events) if json.loads(m["Message"])["item_id"] == outcome.item_id]

    [event] = poll_until(published, timeout_s=10)
    attributes = {k: v["Value"] for k, v in event["MessageAttributes"].items()}
    assert attributes == {
        "event": "published",
        "item_id": outcome.item_id,
        "collection": "cats",
        "owner": "ada",
    }


def test_a_rotated_heic_photo_is_published_upright_with_thumbnails_in_the_configured_format(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]
) -> None:
    # Given a phone's HEIC, stored 400x300 with orientation 6 (irot and EXIF) and its red corner top left
    _, stack = pipeline_stack
    photo = _heic()

    # When it is dropped into the ingest bucket
    [outcome] = _settled(stack, upload(stack, [("beach.heic", photo)], "phone"))

    # Then it is published as a portrait HEIF with its camera metadata
    assert (outcome.state, outcome.version) == ("published", 1)
    item = json.loads(_public(aws, stack, f"items/{outcome.item_id}.json")["Body"].read())
    jsonschema.validate(item, _schema("item"))
    assert {k: item["image"][k] for k in ("format", "mime", "width", "height")} == {
        "format": "HEIF",
        "mime": "image/heic",
        "width": 300,
        "height": 400,
    }
    assert (item["metadata"]["camera_make"], item["metadata"]["camera_model"]) == ("Acme", "Snapper 9")

    # ...and its thumbnails are WebP (the configured format), portrait, turned once: the red corner top right
    assert sorted(t["width"] for t in item["thumbnails"]) == WIDTHS
    for thumbnail in item["thumbnails"]:
        key = thumbnail["url"].removeprefix(stack.outputs["PublicBaseUrl"] + "/")
        stored = _public(aws, stack, key)
        assert stored["ContentType"] == "image/webp"
        image = Image.open(io.BytesIO(stored["Body"].read())).convert("RGB")
        width, height = image.size
        assert (width, height) == (thumbnail["width"], round(thumbnail["width"] * 4 / 3))
        top_right, top_left = image.getpixel((width - 4, 3)), image.getpixel((3, 3))
        assert isinstance(top_right, tuple) and isinstance(top_left, tuple)
        assert top_right[0] > 200 and top_right[2] < 60, top_right
        assert top_left[0] < 100 and top_left[2] > 150, top_left


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("report.jpg", b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n", "unsupported_type"),
        (
            "drawing.png",
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
            "unsupported_type",
        ),
        ("empty.jpg", b"", "empty_file"),
        ("cut.jpg", _jpeg()[:1500], "corrupt_image"),
        ("cut.heic", _first_half(_heic()), "corrupt_image"),
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 300_001, "too_large"),
    ],
    ids=["pdf", "svg", "empty", "truncated", "truncated-heic", "too-large"],
)
def test_a_refused_file_is_quarantined_with_its_reason_and_nothing_is_published(
    aws: EmbeddedAws,
    pipeline_stack: tuple[DeployedStack, Stack],
    item_events: str,
    name: str,
    body: bytes,
    reason: str,
) -> None:
    # Given a file the pipeline must refuse
    _, stack = pipeline_stack
    # When it is uploaded
    [outcome] = _settled(stack, upload(stack, [(name, body)], "bad"))
    # Then it is quarantined with the reason code and an error record, and nothing about it is public
    assert (outcome.state, outcome.reason) == ("quarantined", reason)
    s3 = aws.client("s3")
    prefix = f"quarantine/{outcome.key}/{outcome.version_id}/"
    record = json.loads(
        s3.get_object(Bucket=stack.outputs["QuarantineBucketName"], Key=prefix + "error.json")["Body"].read()
    )
    assert {"key", "reason", "detail", "time"} <= set(record)
    assert record["reason"] == reason
    public = s3.list_objects_v2(Bucket=stack.outputs["PublicBucketName"], Prefix=f"items/{outcome.item_id}")
    assert public.get("KeyCount", 0) == 0

    # ...and followers hear of the failure, with the reason, and no internal quarantine key
    def failed() -> list[dict[str, Any]]:
        return [m for m in _drain(aws, item_events) if json.loads(m["Message"])["item_id"] == outcome.item_id]

    [event] = poll_until(failed, timeout_s=10)
    message = json.loads(event["Message"])
    assert (message["event"], message["reason"]) == ("failed", reason)
    assert event["MessageAttributes"]["event"]["Value"] == "failed"
    assert "quarantine/" not in event["Message"]


def test_a_re_upload_of_the_same_key_becomes_version_2_as_latest(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]
) -> None:
    # Given a published item
    _, stack = pipeline_stack
    _settled(stack, upload(stack, [("felix.png", _png(seed=1))], "cats"))
    # When the same key is uploaded again
    [second] = _settled(stack, upload(stack, [("felix.png", _png(seed=2))], "cats"))
    # Then it is version 2 of the same item, and the latest
    assert (second.state, second.version, second.latest) == ("published", 2, True)
    item = json.loads(_public(aws, stack, f"items/{second.item_id}.json")["Body"].read())
    assert (item["version"], item["versions"]) == (2, 2)
    assert (
        json.loads(_public(aws, stack, f"items/{second.item_id}/versions/1.json")["Body"].read())["version"]
        == 1
    )


def test_a_duplicate_s3_event_creates_no_new_version(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]
) -> None:
    # Given a published upload, and a copy of the S3 event that announced it
    deployed, stack = pipeline_stack
    sqs, sns = aws.client("sqs"), aws.client("sns")
    tap = subscribe_queue(aws, deployed.outputs["UploadEventsTopicArn"], "test-upload-events-tap", raw=True)
    Subscriptions(deployed.outputs["UserNotificationsTopicArn"], sns).subscribe(
        "email", "dups@example.com", filter_policy(collection="dups")
    )
    [outcome] = _settled(stack, upload(stack, [("dup.png", _png(seed=3))], "dups"))
    events = [m for m in _drain_raw(aws, tap) if "dups/dup.png" in m]
    assert len(events) == 1
    stats = aws.runtime.stats

    def invocations(logical_id: str) -> int:
        return stats()[deployed.physical_id(logical_id)][1].invocations

    starts_before = invocations("StartWorkflowFunction")

    # When the same event is delivered again through the Uploads queue
    sqs.send_message(QueueUrl=deployed.outputs["UploadsQueueUrl"], MessageBody=events[0])
    assert poll_until(lambda: invocations("StartWorkflowFunction") > starts_before, timeout_s=30)
    # ...and, as an Express workflow may do, a second execution runs for the same object version
    publishes_before = invocations("PublishFunction")
    sfn = aws.client("stepfunctions")
    run = sfn.start_sync_execution(
        stateMachineArn=deployed.outputs["FileWorkflowArn"],
        name="duplicate-run",
        input=json.dumps({"source": _source(events[0])}),
    )
    assert run["status"] == "SUCCEEDED", run
    assert invocations("PublishFunction") > publishes_before

    # Then the item still has exactly one version
    item = json.loads(_public(aws, stack, f"items/{outcome.item_id}.json")["Body"].read())
    assert (item["version"], item["versions"]) == (1, 1)
    assert check(stack, outcome).version == 1
    # ...and its follower was told once, though the duplicate run announced it again
    assert poll_until(partial(queue_drained, stack, "NotifyQueueUrl"), timeout_s=30)
    told = [e for e in aws.outbox.entries() if e["endpoint"] == "dups@example.com"]
    assert [e["subject"] for e in told] == ["Published: dup.png (dups, v1)"]


def _source(s3_event: str) -> dict[str, Any]:
    from pipeline.logic.keys import object_refs_from_s3_event

    [ref] = object_refs_from_s3_event(json.loads(s3_event))
    return ref.model_dump()


def test_fifty_concurrent_uploads_into_one_collection_all_appear_in_its_listing(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]
) -> None:
    # Given 50 different small images
    _, stack = pipeline_stack
    files = [(f"pic-{i:02d}.png", _png(size=16, seed=i)) for i in range(50)]

    # When they are uploaded at once, into one collection
    with ThreadPoolExecutor(max_workers=10) as pool:
        batches = list(pool.map(lambda f: upload(stack, [f], "crowd"), files))
    outcomes = _settled(stack, [o for batch in batches for o in batch], timeout_s=240)

    # Then every one is published and the listing has all 50, newest first (Publish writes an item's own
    # document before the listing, so a file counts as published a moment before its listing entry lands)
    assert {o.state for o in outcomes} == {"published"}

    def complete_listing() -> dict[str, Any] | None:
        document: dict[str, Any] = json.loads(_public(aws, stack, "collections/crowd.json")["Body"].read())
        return document if document["count"] == 50 else None

    listing = poll_until(complete_listing, timeout_s=60, interval_s=0.5)
    assert listing is not None, json.loads(_public(aws, stack, "collections/crowd.json")["Body"].read())[
        "count"
    ]
    jsonschema.validate(listing, _schema("collection"))
    assert {e["id"] for e in listing["items"]} == {o.item_id for o in outcomes}
    times = [e["updated_at"] for e in listing["items"]]
    assert times == sorted(times, reverse=True)

    def crowd_count() -> int:
        index = json.loads(_public(aws, stack, "index.json")["Body"].read())
        return int(next(c for c in index["collections"] if c["name"] == "crowd")["count"])

    assert poll_until(lambda: crowd_count() == 50, timeout_s=60, interval_s=0.5), crowd_count()


def test_published_documents_never_name_internal_buckets(
    aws: EmbeddedAws, pipeline_stack: tuple[DeployedStack, Stack]
) -> None:
    # Given everything the tests above published
    deployed, stack = pipeline_stack
    s3 = aws.client("s3")
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=stack.outputs["PublicBucketName"]).get("Contents", [])
        if o["Key"].endswith(".json")
    ]
    assert keys
    # Then no public document names the ingest or quarantine bucket
    for key in keys:
        text = _public(aws, stack, key)["Body"].read().decode()
        assert deployed.outputs["IngestBucketName"] not in text, key
        assert deployed.outputs["QuarantineBucketName"] not in text, key
