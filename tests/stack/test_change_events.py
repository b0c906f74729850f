"""Change events keep the public JSON in sync on the embedded AWS: duplicates, disorder, deletes included."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from pipeline.cli import changes
from pipeline.cli.replay import replay
from pipeline.cli.uploads import Stack
from pipeline.client import ChangeClient
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

Event = dict[str, Any]


@pytest.fixture(scope="module")
def stack(aws: EmbeddedAws) -> Iterator[DeployedStack]:
    yield aws.deploy(ROOT / "template.yaml", "changes", changes.LOGGED_OUTCOMES)
    aws.delete("changes")


@pytest.fixture(scope="module")
def client(aws: EmbeddedAws, stack: DeployedStack) -> ChangeClient:
    return ChangeClient(stack.outputs["ChangeEventsTopicArn"], aws.client("sns"))


def _event(entity: str, record: str, sequence: int, *, delete: bool = False, **data: Any) -> Event:
    event: Event = {
        "schema_version": 1,
        "source": "shop",
        "entity": entity,
        "id": record,
        "op": "delete" if delete else "upsert",
        "sequence": sequence,
        "occurred_at": f"2026-11-23T10:{sequence // 60 % 60:02d}:{sequence % 60:02d}Z",
    }
    if not delete:
        event["data"] = data or {"value": sequence}
    return event


def _emit(client: ChangeClient, events: list[Event]) -> None:
    results = client.emit(events)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]


def _document(aws: EmbeddedAws, stack: DeployedStack, key: str) -> dict[str, Any] | None:
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=stack.outputs["PublicBucketName"], Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    document: dict[str, Any] = json.loads(body)
    return document


def _records(aws: EmbeddedAws, stack: DeployedStack, entity: str) -> dict[str, dict[str, Any]]:
    """Every record document of an entity, without the fields that depend on when it was processed."""
    s3 = aws.client("s3")
    listing = s3.list_objects_v2(Bucket=stack.outputs["PublicBucketName"], Prefix=f"records/{entity}/")
    documents = {}
    for entry in listing.get("Contents", []):
        document = _document(aws, stack, entry["Key"])
        assert document is not None
        document.pop("updated_at", None)
        documents[document["id"]] = document
    return documents


def _expected(events: list[Event]) -> dict[str, tuple[int, bool, Any]]:
    """Each record's final (sequence, deleted, data): the highest sequence wins."""
    final: dict[str, Event] = {}
    for event in events:
        if event["id"] not in final or event["sequence"] > final[event["id"]]["sequence"]:
            final[event["id"]] = event
    return {i: (e["sequence"], e["op"] == "delete", e.get("data")) for i, e in final.items()}


def _state(documents: dict[str, dict[str, Any]]) -> dict[str, tuple[int, bool, Any]]:
    return {i: (d["sequence"], d["deleted"], d.get("data")) for i, d in documents.items()}


def _settled(aws: EmbeddedAws, stack: DeployedStack, entity: str, expected: dict[str, Any]) -> bool:
    return _state(_records(aws, stack, entity)) == expected


def _history(entity: str, seed: int, records: int = 20) -> list[Event]:
    """Ten changes to each of `records` records (fixed seed): upserts, every fourth record ending deleted."""
    rng = random.Random(seed)
    events = []
    for n in range(records):
        record = f"r{n:02d}"
        for sequence in range(1, 11):
            delete = n % 4 == 0 and sequence == 10
            events.append(_event(entity, record, sequence, delete=delete, value=rng.randint(0, 10_000)))
    return events


def test_the_demo_burst_reports_each_outcome_from_the_pipeline_and_ends_in_the_latest_state(
    aws: EmbeddedAws, stack: DeployedStack
) -> None:
    # Given the demo's waves: inserts, an invalid event, updates, a delete, a duplicate and two stale changes
    target = Stack(stack.outputs, aws.endpoint_url, aws.region)

    # When they are emitted one wave at a time
    sent = changes.run_demo(target, timeout_s=120)

    # Then each event's outcome, read from its ChangeWorkflow execution, is the one the rules give
    assert [(e.label, o.outcome) for e, o in sent] == [(e.label, e.expected) for e, o in sent]
    rejected = [o for _, o in sent if o.outcome == "rejected"]
    assert rejected and all("at $.sequence" in o.detail for o in rejected)
    # ...and the public JSON is exactly the latest non-deleted state
    valid = [e.event for e, _ in sent if isinstance(e.event, dict)]
    documents, listing = changes.public_records(target, "product")
    assert changes.state_differences(changes.expected_state(valid), documents, listing) == []
    assert listing is not None and [i["id"] for i in listing["items"]] == ["p-100", "p-200", "p-400"]


def test_in_order_and_shuffled_delivery_end_in_the_same_public_json(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given the same 60 changes for two entities (fixed seed), one delivered in order, the other shuffled
    # (`make chaos` and its small run in test_chaos shuffle more, under faults)
    ordered = _history("ordered", seed=11, records=6)
    shuffled = [{**e, "entity": "shuffled"} for e in ordered]
    random.Random(12).shuffle(shuffled)
    expected = _expected(ordered)

    # When they are emitted
    _emit(client, ordered)
    _emit(client, shuffled)

    # Then both entities' public records settle on the latest state, deletes as tombstones
    for entity in ("ordered", "shuffled"):
        settled = poll_until(partial(_settled, aws, stack, entity, expected), timeout_s=240, interval_s=1)
        assert settled, f"{entity}: {_state(_records(aws, stack, entity))} != {expected}"
    ordered_docs, shuffled_docs = _records(aws, stack, "ordered"), _records(aws, stack, "shuffled")
    assert {i: {**d, "entity": "x"} for i, d in ordered_docs.items()} == {
        i: {**d, "entity": "x"} for i, d in shuffled_docs.items()
    }
    # ...and both listings hold exactly the records that are not deleted
    alive = sorted(i for i, (_, deleted, _) in expected.items() if not deleted)
    for entity in ("ordered", "shuffled"):
        listing = _document(aws, stack, f"records/{entity}.json")
        assert listing is not None
        assert [e["id"] for e in listing["items"]] == alive
        assert sorted(listing["deleted"]) == sorted(set(expected) - set(alive))


def test_every_event_delivered_twice_changes_nothing(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given 30 changes (with deletes) that settled, and their public documents
    events = _history("twice", seed=21)[:30]
    _emit(client, events)
    assert poll_until(
        partial(_settled, aws, stack, "twice", _expected(events)), timeout_s=120, interval_s=0.5
    )
    before = {key: _document(aws, stack, key) for key in _keys(aws, stack, "records/twice")}
    recorded = aws.runtime.stats()[stack.physical_id("RecordChangeFunction")][1]
    runs_before = recorded.invocations

    # When every one of them is delivered again
    _emit(client, events)

    # Then each ran through the workflow again, and not one document changed
    stats = aws.runtime.stats
    assert poll_until(
        lambda: (
            stats()[stack.physical_id("RecordChangeFunction")][1].invocations >= runs_before + len(events)
        ),
        timeout_s=120,
        interval_s=0.5,
    )
    assert {key: _document(aws, stack, key) for key in _keys(aws, stack, "records/twice")} == before


def _keys(aws: EmbeddedAws, stack: DeployedStack, prefix: str) -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=stack.outputs["PublicBucketName"], Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_a_late_lower_upsert_cannot_resurrect_a_delete_but_a_higher_one_can(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given a record deleted at sequence 5
    _emit(client, [_event("lazarus", "x", 4, name="alive")])
    assert poll_until(lambda: _document(aws, stack, "records/lazarus/x.json"), timeout_s=60)
    _emit(client, [_event("lazarus", "x", 5, delete=True)])
    assert poll_until(
        lambda: (_document(aws, stack, "records/lazarus/x.json") or {}).get("deleted"), timeout_s=60
    )

    # When a late upsert with sequence 3 arrives, followed by a marker change on another record
    _emit(client, [_event("lazarus", "x", 3, name="zombie"), _event("lazarus", "marker", 1)])
    assert poll_until(lambda: _document(aws, stack, "records/lazarus/marker.json"), timeout_s=60)
    # Then the record stays deleted
    assert (_document(aws, stack, "records/lazarus/x.json") or {})["deleted"] is True

    # When an upsert with sequence 6 arrives, Then the record is back, with its new data
    _emit(client, [_event("lazarus", "x", 6, name="reborn")])
    back = poll_until(
        lambda: not (_document(aws, stack, "records/lazarus/x.json") or {"deleted": True})["deleted"],
        timeout_s=60,
    )
    assert back
    document = _document(aws, stack, "records/lazarus/x.json")
    assert document is not None and (document["sequence"], document["data"]) == (6, {"name": "reborn"})
    listing = _document(aws, stack, "records/lazarus.json")
    assert listing is not None and [e["id"] for e in listing["items"]] == ["marker", "x"]


def test_a_schema_violation_is_refused_by_the_client_and_rejected_by_the_pipeline_with_its_path(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given an upsert without data
    bad = _event("broken", "b1", 1)
    del bad["data"]

    # When the client is asked to emit it, Then it is refused before sending, with the schema message
    [refused] = client.emit([bad])
    assert (refused.ok, refused.reason) == (False, "schema_violation")
    assert "'data' is a required property" in (refused.error or "")

    # When an event with a negative sequence is published to the topic directly, bypassing the client
    bad["data"], bad["sequence"] = {"name": "x"}, -1
    aws.client("sns").publish(TopicArn=stack.outputs["ChangeEventsTopicArn"], Message=json.dumps(bad))

    # Then the pipeline records the rejection with the schema path, and publishes nothing
    s3 = aws.client("s3")

    def rejections() -> list[dict[str, Any]]:
        listing = s3.list_objects_v2(Bucket=stack.outputs["QuarantineBucketName"], Prefix="rejected/changes/")
        records = [
            json.loads(
                s3.get_object(Bucket=stack.outputs["QuarantineBucketName"], Key=o["Key"])["Body"].read()
            )
            for o in listing.get("Contents", [])
        ]
        return [r for r in records if '"broken"' in r["event"]]

    [record] = poll_until(rejections, timeout_s=60)
    assert record["reason"] == "schema_violation"
    assert record["detail"].startswith("at $.sequence:")
    assert _document(aws, stack, "records/broken/b1.json") is None


def test_fifty_concurrent_changes_to_one_entity_all_appear_in_its_listing(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given 50 new records of one entity, emitted at once (with 100 on 2 cores, the embedded AWS itself is
    # slow enough that Publish hits false timeouts twice and parks a change; issue 10's fork server fixes it)
    _emit(client, [_event("crowd", f"c{n:03d}", 1) for n in range(50)])

    # Then the listing ends with all 50
    def listed() -> int:
        listing = _document(aws, stack, "records/crowd.json")
        return int(listing["count"]) if listing else 0

    assert poll_until(lambda: listed() == 50, timeout_s=240, interval_s=1), listed()


def test_replaying_the_archive_reproduces_the_same_public_json(
    aws: EmbeddedAws, stack: DeployedStack, client: ChangeClient
) -> None:
    # Given changes that were published and archived
    events = [_event("replayed", f"r{n}", s, delete=(n == 0 and s == 3)) for n in range(4) for s in (1, 2, 3)]
    expected = _expected(events)
    emitted_from = datetime.now(UTC) - timedelta(seconds=1)
    _emit(client, events)
    assert poll_until(partial(_settled, aws, stack, "replayed", expected), timeout_s=120, interval_s=0.5)
    before = _records(aws, stack, "replayed")
    s3 = aws.client("s3")
    archive = stack.outputs["ArchiveBucketName"]

    def archived() -> int:
        total = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=archive, Prefix="archive/changes/"):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=archive, Key=entry["Key"])["Body"].read()
                total += '"replayed"' in json.loads(body)["Message"]
        return total

    assert poll_until(lambda: archived() == len(events), timeout_s=60, interval_s=0.5)

    # When the public documents are lost and the archive is replayed
    public = stack.outputs["PublicBucketName"]
    for entry in s3.list_objects_v2(Bucket=public, Prefix="records/replayed/").get("Contents", []):
        s3.delete_object(Bucket=public, Key=entry["Key"])
    [changes] = replay(Stack(stack.outputs, aws.endpoint_url), emitted_from, ("changes",))

    # Then every archived event was re-emitted and the public JSON comes back exactly as it was
    assert changes.found == changes.sent == len(events)
    assert poll_until(lambda: _records(aws, stack, "replayed") == before, timeout_s=120, interval_s=0.5)
