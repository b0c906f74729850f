"""The change-event contract: every sample in events/ is judged as its folder says; the rules behind it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import PermanentError
from pipeline.logic.changes import (
    MAX_EVENT_BYTES,
    execution_name,
    merge_entity_listing,
    newer_document,
    parse_change,
)
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
