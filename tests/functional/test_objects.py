"""S3 documents updated by many writers at once lose nothing (moto S3, conditional writes)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto import mock_aws

from embedded_aws import patches
from pipeline.adapters.objects import ObjectStore


@pytest.fixture
def store() -> Iterator[ObjectStore]:
    patches.install_atomic_writes()  # as the embedded AWS does: S3 conditional writes are atomic on AWS
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="public")
        yield ObjectStore(client)


def test_concurrent_read_modify_writes_keep_every_change(store: ObjectStore) -> None:
    # Given 30 writers each adding their own entry to one document
    def add(n: int) -> None:
        def change(current: dict[str, Any] | None) -> dict[str, Any]:
            entries = dict((current or {}).get("entries", {}))
            entries[str(n)] = n
            return {"entries": entries}

        store.update_json("public", "doc.json", change, cache_control="no-cache")

    # When they all write at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, range(30)))

    # Then the document holds all 30
    document, etag = store.read_json("public", "doc.json")
    assert document is not None and etag
    assert sorted(document["entries"].values()) == list(range(30))


def test_a_missing_document_reads_as_none(store: ObjectStore) -> None:
    assert store.read_json("public", "nothing.json") == (None, None)


def test_a_change_that_leaves_the_document_as_it_is_writes_nothing(store: ObjectStore) -> None:
    # Given a document
    store.update_json("public", "doc.json", lambda _: {"a": 1}, cache_control="no-cache")
    puts: list[str] = []
    store.s3.meta.events.register("before-call.s3.PutObject", lambda **kwargs: puts.append("put"))
    # When a change that keeps it as it is is applied (a duplicate event's publish)
    result = store.update_json(
        "public", "doc.json", lambda current: dict(current or {}), cache_control="no-cache"
    )
    # Then the document is returned and nothing is written; a real change is
    assert result == {"a": 1} and puts == []
    store.update_json("public", "doc.json", lambda _: {"a": 2}, cache_control="no-cache")
    assert puts == ["put"] and store.read_json("public", "doc.json")[0] == {"a": 2}
