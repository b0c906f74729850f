"""Versions, the latest pointer and idempotency in the metadata table (moto DynamoDB)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto import mock_aws

from embedded_aws import patches
from pipeline.adapters.metadata_table import MetadataTable
from pipeline.models import ImageInfo, ObjectRef, VersionRecord


@pytest.fixture
def table() -> Iterator[MetadataTable]:
    patches.install_atomic_writes()  # as the embedded AWS does: DynamoDB is atomic on AWS, moto's is not
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="metadata",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "id", "AttributeType": "S"},
                {"AttributeName": "version", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "id", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
        )
        yield MetadataTable("metadata", client)


def _record(version: int, sequencer: str) -> VersionRecord:
    return VersionRecord(
        item_id="item",
        version=version,
        collection="cats",
        name="tom.jpg",
        source=ObjectRef(
            bucket="b", key="uploads/cats/tom.jpg", version_id=f"v{version}", sequencer=sequencer
        ),
        image=ImageInfo(format="JPEG", mime="image/jpeg", width=10, height=10),
        bytes=100,
        sha256="0" * 64,
        recorded_at=f"2026-01-0{version}T00:00:00Z",
    )


def test_a_duplicate_upload_event_gets_the_same_version(table: MetadataTable) -> None:
    # Given one upload allocated a version
    first = table.allocate("item", "cats", "source-1")
    # When the same upload is delivered again, and then a new upload of the same key arrives
    again = table.allocate("item", "cats", "source-1")
    second = table.allocate("item", "cats", "source-2")
    # Then the duplicate shares version 1 and the re-upload is version 2
    assert (first.version, first.duplicate) == (1, False)
    assert (again.version, again.duplicate) == (1, True)
    assert (second.version, second.duplicate) == (2, False)


def test_concurrent_allocations_hand_out_distinct_gapless_versions(table: MetadataTable) -> None:
    # Given 12 different uploads of one key racing
    with ThreadPoolExecutor(max_workers=6) as pool:
        versions = sorted(pool.map(lambda i: table.allocate("item", "cats", f"s{i}").version, range(12)))
    # Then each has its own version, 1..12
    assert versions == list(range(1, 13))


def test_recording_twice_counts_once(table: MetadataTable) -> None:
    table.allocate("item", "cats", "source-1")
    assert table.record(_record(1, "0A")) is True
    assert table.record(_record(1, "0A")) is False
    state = table.state("item")
    assert state is not None and state.versions == 1
    assert table.version("item", 1) == _record(1, "0A")


def test_latest_only_moves_forward_by_upload_order(table: MetadataTable) -> None:
    # Given versions 1 and 2 where version 2's upload is older (its event arrived first)
    for source in ("s1", "s2"):
        table.allocate("item", "cats", source)
    # When version 1 (newer upload, sequencer 0B) and version 2 (older, 0A) move latest in that order
    assert table.move_latest("item", 1, "0B", "2026-01-01T00:00:00Z") is True
    assert table.move_latest("item", 2, "0A", "2026-01-02T00:00:00Z") is False
    # Then latest stays on the newer upload
    state = table.state("item")
    assert state is not None and state.latest == 1
    # ...and moving to the same version again is a no-op that changes nothing
    assert table.move_latest("item", 1, "0B", "2026-01-01T00:00:00Z") is False
