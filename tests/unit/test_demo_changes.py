"""The demo's change-event burst and the check that the public JSON matches the latest state."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipeline.cli.changes import DEMO_WAVES, expected_state, state_differences
from pipeline.errors import PermanentError
from pipeline.logic.changes import parse_change, record_document
from pipeline.models import StoredChange

VALID = [e.event for wave in DEMO_WAVES for e in wave if isinstance(e.event, dict)]


def _public(events: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The public JSON the rules produce: each record's winner as a document, and the listing."""
    latest = expected_state(events)
    documents = {
        i: record_document(StoredChange(change=parse_change(e), recorded_at="2026-11-24T09:00:00Z"))
        for i, e in latest.items()
    }
    live = [d for d in documents.values() if not d["deleted"]]
    listing = {
        "count": len(live),
        "items": [{"id": d["id"], "sequence": d["sequence"]} for d in sorted(live, key=lambda d: d["id"])],
        "deleted": {d["id"]: d["sequence"] for d in documents.values() if d["deleted"]},
    }
    return documents, listing


def test_the_demo_expectations_follow_the_ordering_rules() -> None:
    # Given the demo's waves, applied in order with D8's rules (higher sequence wins, equal is a duplicate)
    stored: dict[str, int] = {}
    outcomes = []
    for wave in DEMO_WAVES:
        for event in wave:
            # When each event is judged
            try:
                change = parse_change(event.text)
            except PermanentError:
                outcomes.append("rejected")
                continue
            current = stored.get(change.id, -1)
            outcomes.append(
                "recorded"
                if change.sequence > current
                else "duplicate"
                if change.sequence == current
                else "stale"
            )
            stored[change.id] = max(current, change.sequence)
    # Then the demo expects exactly those outcomes, and shows every kind at least once
    assert outcomes == [e.expected for wave in DEMO_WAVES for e in wave]
    assert {"recorded", "duplicate", "stale", "rejected"} <= set(outcomes)
    assert any(e.get("op") == "delete" for e in VALID)


def test_public_json_matching_the_latest_state_has_no_differences() -> None:
    # Given public JSON built from the winners
    documents, listing = _public(VALID)
    # When it is compared with the latest state
    # Then nothing differs
    assert state_differences(expected_state(VALID), documents, listing) == []


@pytest.mark.parametrize("fault", ["stale data", "resurrected", "missing document", "listed twice"])
def test_any_difference_from_the_latest_state_is_reported(fault: str) -> None:
    # Given public JSON with one fault
    documents, listing = _public(VALID)
    documents, listing = copy.deepcopy(documents), copy.deepcopy(listing)
    if fault == "stale data":
        documents["p-200"]["data"] = {"name": "Teapot", "price": 19}
    elif fault == "resurrected":
        listing["items"].append({"id": "p-300", "sequence": 1})
    elif fault == "missing document":
        del documents["p-400"]
    else:
        listing["count"] += 1
    # When it is compared with the latest state
    problems = state_differences(expected_state(VALID), documents, listing)
    # Then the difference is reported
    assert len(problems) == 1, problems
