"""Who may subscribe: an E.164 phone number that exists in its country's numbering plan, or a plausible email
address, checked by `pipeline subscribe` before anything reaches SNS; and the demo's subscriber. Not deployed
to Lambda."""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from pipeline.adapters.subscriptions import Subscriptions
from pipeline.cli.uploads import Outcome, Stack
from pipeline.errors import REASONS, PermanentError
from pipeline.logic.notifications import filter_policy

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def email_address(text: str) -> str:
    """The address, normalised; a clear refusal when it is not a plausible address."""
    try:
        return str(validate_email(text.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise PermanentError(
            f"{text!r} is not a plausible email address: {exc}", reason="invalid_subscription"
        ) from exc


def phone_number(text: str) -> str:
    """The number in E.164 (+ country code, then the number, digits only); a clear refusal otherwise.

    Spaces, dots, hyphens and parentheses are allowed for readability and removed.
    """
    example = "e.g. +14155550123"
    compact = re.sub(r"[\s.()-]", "", text)
    if not compact.startswith("+"):
        raise PermanentError(
            f"{text!r} is not in E.164 form: start with + and the country code, {example}.",
            reason="invalid_subscription",
        )
    if not E164.fullmatch(compact):
        raise PermanentError(
            f"{text!r} is not in E.164 form: + then at most 15 digits, the first not 0, {example}.",
            reason="invalid_subscription",
        )
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(compact, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise PermanentError(
            f"{text!r} is not a valid number in its country's numbering plan; check the digits, {example}.",
            reason="invalid_subscription",
        )
    return compact


#: The demo's subscriber: follows the demo collection by email (everything) and SMS (refused files only).
DEMO_EMAIL = "reader@example.com"
DEMO_PHONE = "+14155550123"
DEMO_COLLECTION = "demo"
#: Who gets the demo stack's alarms (its `AlertEmail`).
DEMO_ALERT_EMAIL = "ops@example.com"
#: An item event of a type Notify does not know (as a newer producer might send): parked in Notify's DLQ.
DEMO_UNKNOWN_EVENT = {"type": "item.archived", "item_id": "demo-archived", "collection": DEMO_COLLECTION}


def demo_alarm(stack: Stack) -> None:
    """Publish an item event Notify cannot read: it goes to Notify's DLQ, whose alarm tells the operator."""
    stack.client("sns").publish(
        TopicArn=stack.outputs["ItemEventsTopicArn"], Message=json.dumps(DEMO_UNKNOWN_EVENT)
    )


def demo_subscribe(stack: Stack) -> None:
    """Subscribe the demo's reader to its collection: every event by email, refusals by SMS."""
    subscriptions = Subscriptions(stack.outputs["UserNotificationsTopicArn"], stack.client("sns"))
    subscriptions.subscribe("email", DEMO_EMAIL, filter_policy(collection=DEMO_COLLECTION))
    subscriptions.subscribe("sms", DEMO_PHONE, filter_policy(collection=DEMO_COLLECTION, events=["failed"]))


def queue_drained(stack: Stack, output: str) -> bool:
    """Whether the queue (a stack Output's URL) holds no message, visible or in flight."""
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.outputs[output],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(int(v) == 0 for v in attributes.values())


def demo_outbox_problems(entries: list[dict[str, Any]], uploads: list[Outcome]) -> list[str]:
    """How the outbox differs from one email per demo upload and one SMS per refused file, with reasons."""
    problems = []
    emails = [e for e in entries if e["endpoint"] == DEMO_EMAIL]
    texts = [e for e in entries if e["endpoint"] == DEMO_PHONE]
    refused = [o for o in uploads if o.state == "quarantined"]
    if len(emails) != len(uploads):
        problems.append(f"{len(emails)} emails to {DEMO_EMAIL}; expected {len(uploads)}, one per upload")
    if len(texts) != len(refused):
        problems.append(f"{len(texts)} SMS to {DEMO_PHONE}; expected {len(refused)}, one per refused file")
    for entry in emails + texts:
        if entry["attributes"].get("collection") != DEMO_COLLECTION:
            problems.append(f"{entry['endpoint']} got a message for collection {entry['attributes']}")
    for outcome in refused:
        sentence = REASONS[outcome.reason or "internal_error"]
        if not any(outcome.name in e["subject"] and sentence in e["message"] for e in emails):
            problems.append(f"no email says why {outcome.name} was refused ({sentence})")
    return problems
