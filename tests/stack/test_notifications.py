"""Email and SMS notifications on the embedded AWS: each subscriber gets what their filter asks for, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from embedded_aws.stack import DeployedStack, EmbeddedAws, poll_until
from pipeline.adapters.subscriptions import Subscriptions
from pipeline.cli.samples import SAMPLES
from pipeline.cli.subscribers import queue_drained
from pipeline.cli.uploads import Stack, upload, wait
from pipeline.errors import REASONS
from pipeline.logic.notifications import filter_policy
from tests.conftest import ROOT, subscribe_queue

pytestmark = pytest.mark.stack

ANN_ALPHA = "ann@example.com"  # email: everything in collection alpha
BOB_PHONE = "+14155550123"  # SMS: failures of owner bob, any collection
OPS = "ops@example.com"  # email: deletes and rejections, anywhere


@pytest.fixture(scope="module")
def stack(aws: EmbeddedAws) -> Iterator[Stack]:
    deployed: DeployedStack = aws.deploy(ROOT / "template.yaml", "notify")
    target = Stack(deployed.outputs, aws.endpoint_url, aws.region)
    subscriptions = Subscriptions(target.outputs["UserNotificationsTopicArn"], aws.client("sns"))
    subscriptions.subscribe("email", ANN_ALPHA, filter_policy(collection="alpha"))
    subscriptions.subscribe("sms", BOB_PHONE, filter_policy(owner="bob", events=["failed"]))
    subscriptions.subscribe("email", OPS, filter_policy(events=["deleted", "rejected"]))
    yield target
    aws.delete("notify")


def _item_event(stack: Stack, event: dict[str, Any]) -> None:
    """Publish an item event as the workflows do: the JSON message and its filterable attributes."""
    attributes = {
        k: {"DataType": "String", "StringValue": event[k]} for k in ("event", "collection", "owner")
    }
    stack.client("sns").publish(
        TopicArn=stack.outputs["ItemEventsTopicArn"], Message=json.dumps(event), MessageAttributes=attributes
    )


def _received(aws: EmbeddedAws, stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """This stack's outbox, by recipient."""
    by_endpoint: dict[str, list[dict[str, Any]]] = {}
    for entry in aws.outbox.entries():
        if entry["topic_arn"] == stack.outputs["UserNotificationsTopicArn"]:
            by_endpoint.setdefault(entry["endpoint"], []).append(entry)
    return by_endpoint


def _settled(aws: EmbeddedAws, stack: Stack, count: int) -> dict[str, list[dict[str, Any]]]:
    """Wait until `count` messages went out and Notify has nothing left to do; returns them by recipient."""

    def done() -> bool:
        total = sum(map(len, _received(aws, stack).values()))
        return total >= count and queue_drained(stack, "NotifyQueueUrl")

    assert poll_until(done, timeout_s=60, interval_s=0.2), _received(aws, stack)
    return _received(aws, stack)


def _event(n: int, event: str, collection: str, owner: str, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "event_id": f"{event}:item-{n}",
        "item_id": f"item-{n}",
        "version": 1,
        "collection": collection,
        "owner": owner,
        **({"name": f"Item {n}"} | extra),
    }


def test_each_subscriber_receives_only_what_their_filter_asks_for_once_each(
    aws: EmbeddedAws, stack: Stack
) -> None:
    # Given three subscribers with different filters, and item events for several owners and collections
    events = [
        _event(1, "published", "alpha", "ann"),
        _event(2, "failed", "alpha", "bob", name="scan.pdf", reason="unsupported_type"),
        _event(3, "failed", "beta", "carl", name="x.gif", reason="corrupt_image"),
        _event(4, "deleted", "catalog", "shop", entity="product", sequence=9),
        _event(5, "rejected", "none", "unowned", reason="schema_violation", detail="at $.id: required"),
        _event(6, "published", "beta", "bob"),
        _event(7, "failed", "beta", "bob", name="y.png", reason="empty_file"),
    ]

    # When they are published, the first one twice (a redelivery)
    for event in [*events, events[0]]:
        _item_event(stack, event)

    # Then each subscriber got exactly their own, once each
    received = _settled(aws, stack, count=6)
    subjects = {who: sorted(e["subject"] or e["message"] for e in got) for who, got in received.items()}
    assert subjects == {
        ANN_ALPHA: ["Published: Item 1 (alpha, v1)", "Upload refused: scan.pdf (alpha)"],
        BOB_PHONE: [
            f"Refused: scan.pdf (alpha). {REASONS['unsupported_type']}",
            f"Refused: y.png (beta). {REASONS['empty_file']}",
        ],
        OPS: ["Change event rejected: schema_violation", "Deleted: product item-4"],
    }
    assert all(e["protocol"] == "sms" and len(e["message"].encode()) <= 140 for e in received[BOB_PHONE])


def test_a_refused_upload_reaches_its_collection_and_its_owner_with_the_reason(
    aws: EmbeddedAws, stack: Stack
) -> None:
    # Given the subscribers above
    before = {who: len(got) for who, got in _received(aws, stack).items()}
    name, make, reason = next(s for s in SAMPLES if s.expected == "polyglot")

    # When bob uploads a polyglot into collection alpha
    outcomes = upload(stack, [(name, make())], "alpha", owner="bob")
    wait(stack, outcomes, 90)
    assert outcomes[0].state == "quarantined"
    received = _settled(aws, stack, count=sum(before.values()) + 2)

    # Then ann (collection alpha) gets an email and bob (owner) an SMS, both saying why in plain words
    [email] = received[ANN_ALPHA][before.get(ANN_ALPHA, 0) :]
    [sms] = received[BOB_PHONE][before.get(BOB_PHONE, 0) :]
    assert email["subject"] == f"Upload refused: {name} (alpha)"
    assert REASONS[reason] in email["message"] and "quarantine/" not in email["message"]
    assert sms["message"].startswith(f"Refused: {name} (alpha).")
    assert len(received[OPS]) == before.get(OPS, 0)


def test_a_claimed_owner_is_ignored_so_a_spoofed_upload_never_reaches_that_owners_subscribers(
    aws: EmbeddedAws, stack: Stack
) -> None:
    # Given bob's SMS subscription to failures of his items
    before = {who: len(got) for who, got in _received(aws, stack).items()}
    name, make, _ = next(s for s in SAMPLES if s.expected == "polyglot")
    taps = stack.client("sqs")
    tap = subscribe_queue(aws, stack.outputs["ItemEventsTopicArn"], "spoof-tap", raw=True)

    # When eve uploads a refused file into another collection, claiming bob as its owner in its metadata
    outcomes = upload(stack, [(f"spoof-{name}", make())], "omega", metadata={"owner": "bob"}, owner="eve")
    wait(stack, outcomes, 90)
    assert outcomes[0].state == "quarantined"

    # Then the item event names eve as owner and says the claim was ignored, and bob hears nothing
    def failed_event() -> dict[str, Any] | None:
        for message in taps.receive_message(QueueUrl=tap, WaitTimeSeconds=1).get("Messages", []):
            body = json.loads(message["Body"])
            if body.get("item_id") == outcomes[0].item_id:
                return dict(body)
        return None

    event = poll_until(failed_event, timeout_s=30)
    assert event is not None and (event["owner"], event["ignored_owner_claim"]) == ("eve", "bob")
    assert poll_until(lambda: queue_drained(stack, "NotifyQueueUrl"), timeout_s=30)
    assert {who: len(got) for who, got in _received(aws, stack).items()} == before


def test_unsubscribing_stops_the_messages(aws: EmbeddedAws, stack: Stack) -> None:
    # Given ops is unsubscribed
    subscriptions = Subscriptions(stack.outputs["UserNotificationsTopicArn"], aws.client("sns"))
    ops = [s.arn for s in subscriptions.all() if s.endpoint == OPS]
    removed = subscriptions.unsubscribe("email", OPS)
    assert removed == ops and len(ops) == 1
    before = len(_received(aws, stack).get(OPS, []))

    # When a delete is announced (and a published item in alpha, which ann still gets)
    _item_event(stack, _event(8, "deleted", "catalog", "shop", entity="product", sequence=3))
    _item_event(stack, _event(9, "published", "alpha", "ann"))
    total = sum(map(len, _received(aws, stack).values()))
    received = _settled(aws, stack, count=total + 1)

    # Then ops got nothing more
    assert len(received.get(OPS, [])) == before
    assert {s.endpoint for s in subscriptions.all()} == {ANN_ALPHA, BOB_PHONE}


def test_subscribing_again_replaces_the_filters(aws: EmbeddedAws, stack: Stack) -> None:
    # Given ann follows collection alpha
    subscriptions = Subscriptions(stack.outputs["UserNotificationsTopicArn"], aws.client("sns"))
    # When she subscribes again for collection gamma
    _, replaced = subscriptions.subscribe("email", ANN_ALPHA, filter_policy(collection="gamma"))
    before = len(_received(aws, stack)[ANN_ALPHA])
    _item_event(stack, _event(10, "published", "alpha", "ann"))
    _item_event(stack, _event(11, "published", "gamma", "ann"))
    total = sum(map(len, _received(aws, stack).values()))
    received = _settled(aws, stack, count=total + 1)
    # Then she has one subscription, for gamma only
    assert replaced
    assert [s.filter_policy for s in subscriptions.all() if s.endpoint == ANN_ALPHA] == [
        filter_policy(collection="gamma")
    ]
    assert [e["subject"] for e in received[ANN_ALPHA][before:]] == ["Published: Item 11 (gamma, v1)"]
