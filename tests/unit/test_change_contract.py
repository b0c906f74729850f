"""The change-event contract: every sample in events/ is judged as its folder says; the rules behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import PermanentError
from pipeline.logic.changes import (
    MAX_EVENT_BYTES,
    execution_name,
    inherit_labels,
    labels_of_raw,
    merge_entity_listing,
    newer_document,
    parse_change,
    record_document,
)
from pipeline.models import StoredChange
from tests.conftest import ROOT

SAMPLES = ROOT / "events" / "samples" / "change-events"


@pytest.mark.parametrize("path", sorted((SAMPLES / "valid").glob("*.json")), ids=lambda p: p.name)
def test_valid_samples_pass_the_contract(path: Path) -> None:
    change = parse_change(path.read_text())
    assert change.source == "shop"


@pytest.mark.parametrize("path", sorted((SAMPLES / "invalid").glob("*.json")), ids=lambda p: p.name)
def test_invalid_samples_are_refused_with_the_schema_path(path: Path) -> None:
    with pytest.raises(PermanentError) as refused:
        parse_change(path.read_text())
    assert refused.value.reason == "schema_violation"
    assert refused.value.message.startswith("at $")


def test_the_size_limit_is_enforced() -> None:
    event = json.loads((SAMPLES / "valid" / "insert.json").read_text())
    event["data"] = {"blob": "x" * MAX_EVENT_BYTES}
    with pytest.raises(PermanentError, match=r"at \$: the event is \d+ bytes; the limit is 65536"):
        parse_change(event)


def test_the_schema_file_in_events_is_the_one_the_lambda_ships() -> None:
    shipped = ROOT / "pipeline" / "contracts" / "change-event.schema.json"
    assert (ROOT / "events" / "schemas" / "change-event.schema.json").read_text() == shipped.read_text()


def test_execution_names_come_from_the_business_key() -> None:
    change = parse_change((SAMPLES / "valid" / "insert.json").read_text())
    assert execution_name(change, "a") == execution_name(change, "b")
    assert execution_name(None, "a") != execution_name(None, "b")


def _doc(record: str, sequence: int, deleted: bool = False) -> dict[str, object]:
    return {"id": record, "sequence": sequence, "deleted": deleted, "updated_at": "t"}


def test_listing_merges_let_the_higher_sequence_win_and_remember_deletes() -> None:
    listing = merge_entity_listing(None, "product", _doc("a", 2), "u")
    listing = merge_entity_listing(listing, "product", _doc("a", 3, deleted=True), "u")
    # A late lower upsert does not bring it back...
    listing = merge_entity_listing(listing, "product", _doc("a", 1), "u")
    assert (listing["items"], listing["deleted"]) == ([], {"a": 3})
    # ...a higher one does
    listing = merge_entity_listing(listing, "product", _doc("a", 4), "u")
    assert [e["id"] for e in listing["items"]] == ["a"] and listing["deleted"] == {}


def test_record_documents_keep_the_higher_sequence() -> None:
    newer = _doc("a", 5, deleted=True)
    assert newer_document(newer, _doc("a", 4)) is newer
    assert newer_document(_doc("a", 4), newer) is newer


def test_a_change_without_owner_or_collection_keeps_its_records() -> None:
    # Given a record inserted with an owner and a collection
    insert = parse_change(
        '{"schema_version":1,"source":"shop","entity":"product","id":"p-1","op":"upsert","sequence":1,'
        '"occurred_at":"2026-11-23T10:00:00Z","data":{"name":"Kettle"},"owner":"ada","collection":"kitchen"}'
    )
    stored = StoredChange(change=insert, recorded_at="2026-11-23T10:00:01Z")
    delete = parse_change(
        '{"schema_version":1,"source":"shop","entity":"product","id":"p-1","op":"delete","sequence":2,'
        '"occurred_at":"2026-11-23T10:05:00Z"}'
    )
    # When its delete, which names neither, is recorded
    inherited = inherit_labels(delete, stored)
    # Then the delete and its tombstone keep them, so ada's and the collection's followers hear of it
    assert (inherited.owner, inherited.collection) == ("ada", "kitchen")
    tombstone = record_document(StoredChange(change=inherited, recorded_at="2026-11-23T10:05:01Z"))
    assert (tombstone["owner"], tombstone["collection"], tombstone["deleted"]) == ("ada", "kitchen", True)
    assert "data" not in tombstone
    # ...while a change that names its own keeps them, and a first change has nothing to inherit
    moved = delete.model_copy(update={"collection": "garden"})
    assert inherit_labels(moved, stored).collection == "garden"
    assert inherit_labels(delete, None) == delete


def test_a_rejected_event_is_labelled_with_the_owner_and_collection_it_names_if_any() -> None:
    assert labels_of_raw('{"owner": " ada ", "collection": "kitchen", "sequence": "x"}') == ("ada", "kitchen")
    assert labels_of_raw('{"owner": 7, "collection": ""}') == (None, None)
    assert labels_of_raw("not json") == (None, None)
    assert labels_of_raw("[1, 2]") == (None, None)
