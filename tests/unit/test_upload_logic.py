"""Pure upload logic: keys, ids, size limits, user metadata, public documents."""

from __future__ import annotations

import random
from typing import Any

import pytest

from pipeline.config import Settings
from pipeline.errors import PermanentError, split_cause
from pipeline.logic import documents
from pipeline.logic.keys import (
    execution_name,
    item_id,
    normalised_sequencer,
    object_refs_from_s3_event,
    parse_upload_key,
    source_id,
)
from pipeline.logic.uploads import check_size, user_metadata
from pipeline.models import ObjectRef


@pytest.mark.parametrize("key", ["uploads/cats/tom.jpg", "uploads/cats/sub/dir/tom.jpg"])
def test_upload_keys_name_a_collection_and_a_name(key: str) -> None:
    collection, name = parse_upload_key(key)
    assert collection == "cats" and name == key.removeprefix("uploads/cats/")


@pytest.mark.parametrize(
    "key", ["tom.jpg", "uploads/tom.jpg", "uploads//tom.jpg", "other/cats/tom.jpg", "uploads/cats/"]
)
def test_other_keys_are_refused_with_bad_key(key: str) -> None:
    with pytest.raises(PermanentError) as refused:
        parse_upload_key(key)
    assert refused.value.reason == "bad_key"


def test_item_ids_are_stable_per_logical_key_and_differ_between_keys() -> None:
    assert item_id("b", "uploads/c/x.jpg") == item_id("b", "uploads/c/x.jpg")
    assert item_id("b", "uploads/c/x.jpg") != item_id("b", "uploads/c/y.jpg")


def test_the_business_key_of_an_upload_is_its_object_version() -> None:
    first = ObjectRef(bucket="b", key="uploads/c/x.jpg", version_id="v1")
    assert source_id(first) == source_id(first.model_copy(update={"etag": "other"}))
    assert source_id(first) != source_id(first.model_copy(update={"version_id": "v2"}))
    name = execution_name(first, "message-1")
    assert len(name) <= 80 and not set(name) & set(" /:#%$&,;")
    assert execution_name(first, "message-1") == name != execution_name(first, "message-2")


def test_sequencers_of_different_lengths_compare_in_upload_order() -> None:
    assert normalised_sequencer("0A") < normalised_sequencer("00FF")
    assert normalised_sequencer(None) < normalised_sequencer("01")


def test_s3_events_name_created_objects_only_and_decode_keys() -> None:
    # Given an S3 test event, a created object with an encoded key, and a deletion
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "b"},
                    "object": {
                        "key": "uploads/my+cats/a%C3%A9.jpg",
                        "versionId": "v1",
                        "size": 3,
                        "sequencer": "0A",
                    },
                },
            },
            {
                "eventName": "ObjectRemoved:Delete",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "uploads/c/x"}},
            },
        ]
    }
    # Then only the creation counts, with its key decoded
    assert object_refs_from_s3_event(event) == [
        ObjectRef(bucket="b", key="uploads/my cats/aé.jpg", version_id="v1", size=3, sequencer="0A")
    ]
    assert object_refs_from_s3_event({"Event": "s3:TestEvent", "Bucket": "b"}) == []


def test_size_limits_are_checked_from_the_head() -> None:
    with pytest.raises(PermanentError) as empty:
        check_size(0, 100)
    with pytest.raises(PermanentError) as large:
        check_size(101, 100)
    assert (empty.value.reason, large.value.reason) == ("empty_file", "too_large")
    check_size(100, 100)


def test_user_metadata_keeps_the_known_fields_and_takes_the_owner_from_identity_only() -> None:
    # Given metadata claiming owner ada, uploaded by a session named eve, and by an IAM user
    metadata = {"title": " Tom ", "owner": "ada", "secret": "x", "author": " "}

    # When read, Then the owner is the session's name (or nobody), never the claim
    by_eve = user_metadata(metadata, "AWS:AROAEXAMPLE123:Eve", "AROAEXAMPLE123")
    by_user = user_metadata(metadata, "AWS:AIDAEXAMPLE456", "AROAEXAMPLE123")
    assert by_eve.model_dump() == {"title": "Tom", "author": None, "category": None, "owner": "eve"}
    assert by_user.owner is None


def test_error_causes_read_back_into_reason_and_sentence() -> None:
    assert split_cause(str(PermanentError("Nope.", reason="too_large"))) == ("too_large", "Nope.")
    assert split_cause("KeyError: 'x'") == ("internal_error", "KeyError: 'x'")


def test_settings_come_from_the_environment_once_parsed() -> None:
    settings = Settings.from_env({"THUMBNAIL_WIDTHS": "64, 128", "MAX_PIXELS": "10", "PUBLIC_BUCKET": "p"})
    assert (settings.thumbnail_widths, settings.max_pixels, settings.public_bucket) == ((64, 128), 10, "p")


def _entry(item: str, updated_at: str, version: int = 1) -> dict[str, Any]:
    return {
        "id": item,
        "name": item,
        "title": item,
        "version": version,
        "updated_at": updated_at,
        "thumbnail": None,
        "url": f"https://cdn/items/{item}.json",
    }


def test_listing_merges_keep_every_item_whatever_the_order_newest_first() -> None:
    # Given 30 entries merged in a shuffled order (fixed seed)
    entries = [_entry(f"i{n:02d}", f"2026-01-01T00:00:{n:02d}Z") for n in range(30)]
    shuffled = entries[:]
    random.Random(7).shuffle(shuffled)
    listing: dict[str, Any] | None = None
    for entry in shuffled:
        listing = documents.merge_listing(listing, "c", entry, entry["updated_at"])
    # Then all are there, newest first
    assert listing is not None and listing["count"] == 30
    assert [e["id"] for e in listing["items"]] == [f"i{n:02d}" for n in reversed(range(30))]


def test_an_older_entry_never_replaces_a_newer_one() -> None:
    newer = _entry("x", "2026-01-02T00:00:00Z", version=2)
    listing = documents.merge_listing(None, "c", newer, newer["updated_at"])
    listing = documents.merge_listing(
        listing, "c", _entry("x", "2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z"
    )
    assert listing["items"] == [newer]
    assert listing["updated_at"] == "2026-01-02T00:00:00Z"


def test_the_index_keeps_the_larger_count_and_the_later_time() -> None:
    index = documents.merge_index(None, "c", 5, "2026-01-02T00:00:00Z", "https://cdn")
    index = documents.merge_index(index, "c", 3, "2026-01-01T00:00:00Z", "https://cdn")
    assert index["collections"] == [
        {
            "name": "c",
            "count": 5,
            "updated_at": "2026-01-02T00:00:00Z",
            "url": "https://cdn/collections/c.json",
        }
    ]
