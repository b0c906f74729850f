"""What people are told about item events: email and SMS texts, subscription filters, event identity. Pure.

Only whitelisted fields of an item event are ever rendered (title, name, collection, version, sequence, public
links, the reason code's sentence): never GPS, quarantine keys, stack traces or an internal error's detail.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from typing import Any

from pipeline.errors import REASONS, PermanentError
from pipeline.models import ItemEvent, Notification

EVENT_TYPES = ("published", "failed", "deleted", "rejected")
#: SNS: "Subjects must be UTF-8 text with no line breaks or control characters, and less than 100 characters".
SUBJECT_MAX_CHARS = 99
SMS_MAX_BYTES = 140
ELLIPSIS = "…"
#: In SMS, "…" is outside the GSM 7-bit alphabet and would switch a whole message to 70-character UCS-2 parts.
SMS_ELLIPSIS = "..."
#: A title keeps at least this many bytes of an SMS before the words after it are shortened.
SMS_TITLE_BYTES = 24
#: The schema path at the start of a `schema_violation` detail ("at $.data.price: …"). Only the path is shown:
#: the validator's message may quote the event's values, which may be anyone's data.
_SCHEMA_PATH = re.compile(r"^at (\$[^\s:]*)")
_FOOTER = (
    "You receive this because you subscribed to pipeline notifications. "
    "To stop them, use the unsubscribe link AWS adds below, or `pipeline unsubscribe`."
)


def event_identity(event: ItemEvent, message: dict[str, Any]) -> str:
    """The event's business key (D7): the publisher's `event_id`, else a digest of the whole message."""
    if event.event_id:
        return event.event_id
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def one_line(text: str) -> str:
    """Text on one line: control characters and line breaks become spaces, runs of spaces one space."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _trim_partial(text: str) -> str:
    """Drop marks left dangling by a cut: combining marks, joiners and variation selectors."""
    while text and (unicodedata.combining(text[-1]) or text[-1] in "\u200d\ufe0e\ufe0f"):
        text = text[:-1]
    return text.rstrip()


def clip_utf8(text: str, max_bytes: int, ellipsis: str = ELLIPSIS) -> str:
    """At most `max_bytes` of UTF-8, never cutting inside a character; an ellipsis marks a cut."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    budget = max(0, max_bytes - len(ellipsis.encode()))
    return _trim_partial(data[:budget].decode("utf-8", errors="ignore")) + ellipsis


def clip_chars(text: str, max_chars: int) -> str:
    """At most `max_chars` characters; an ellipsis marks a cut."""
    if len(text) <= max_chars:
        return text
    return _trim_partial(text[: max(0, max_chars - 1)]) + ELLIPSIS


def _subject(before: str, title: str, after: str) -> str:
    """`before + title + after` within SNS's subject limit, shortening the title first."""
    room = SUBJECT_MAX_CHARS - len(before) - len(after)
    return clip_chars(before + clip_chars(title, max(room, 1)) + after, SUBJECT_MAX_CHARS)


def _sms(before: str, title: str, after: str, link: str | None) -> str:
    """One SMS line within SMS_MAX_BYTES. What gives way first: the link, then the words after the title (down
    to what leaves the title SMS_TITLE_BYTES), then the title."""

    def size(text: str) -> int:
        return len(text.encode())

    keep = min(size(title), SMS_TITLE_BYTES)
    tail = f" {link}" if link else ""
    if size(before + after + tail) + keep > SMS_MAX_BYTES:
        tail = ""
    after = clip_utf8(after, max(SMS_MAX_BYTES - size(before + tail) - keep, 0), SMS_ELLIPSIS)
    room = max(SMS_MAX_BYTES - size(before + after + tail), 0)
    line = before + clip_utf8(title, room, SMS_ELLIPSIS) + after + tail
    return clip_utf8(line, SMS_MAX_BYTES, SMS_ELLIPSIS)


def _body(*paragraphs: str, details: list[tuple[str, str | None]] | None = None) -> str:
    lines = list(paragraphs)
    shown = [(label, value) for label, value in details or [] if value]
    if shown:
        width = max(len(label) for label, _ in shown) + 1
        lines.append("\n".join(f"{label + ':':<{width}} {value}" for label, value in shown))
    lines.append(_FOOTER)
    return "\n\n".join(lines) + "\n"


def _reason(event: ItemEvent) -> str:
    return REASONS.get(event.reason or "", REASONS["internal_error"])


def render(event: ItemEvent, event_id: str) -> Notification:
    """The email (subject and body) and SMS line for one item event, with the attributes filters match."""
    collection = one_line(event.collection)
    title = one_line(event.title or event.name or event.item_id)
    record = one_line(f"{event.entity} {event.item_id.split('/', 1)[-1]}") if event.entity else ""
    if event.event == "published" and not event.entity:
        version = f"v{event.version}" if event.version is not None else "a new version"
        latest = (
            " It is the latest version."
            if event.latest in (None, event.version)
            else f" The latest version is v{event.latest}."
        )
        subject = _subject("Published: ", title, f" ({collection}, {version})")
        email = _body(
            f"{title} was published in collection {collection} as {version}.{latest}",
            details=[
                ("Item", title),
                ("Collection", collection),
                ("Version", version),
                ("JSON", event.url),
                ("Thumbnail", event.thumbnail),
            ],
        )
        sms = _sms("Published: ", title, f" ({collection} {version})", event.url)
    elif event.event == "published":
        subject = _subject("Updated: ", title, f" ({record})")
        email = _body(
            f"The {record} record ({title}) was updated upstream and its public document is up to date.",
            details=[
                ("Record", record),
                ("Collection", collection),
                ("Sequence", None if event.sequence is None else str(event.sequence)),
                ("JSON", event.url),
            ],
        )
        sms = _sms("Updated: ", title, f" ({record})", event.url)
    elif event.event == "deleted":
        subject = _subject("Deleted: ", record or title, "")
        email = _body(
            f"The {record or title} record was deleted upstream. Its public document now says so.",
            details=[
                ("Record", record or title),
                ("Collection", collection),
                ("Sequence", None if event.sequence is None else str(event.sequence)),
                ("JSON", event.url),
            ],
        )
        sms = _sms("Deleted: ", record or title, "", None)
    elif event.event == "failed":
        subject = _subject("Upload refused: ", title, f" ({collection})")
        email = _body(
            f"The file {title} uploaded to collection {collection} was not published.",
            f"Why: {_reason(event)}",
            "What to do: operators have the details; nothing to do on your side."
            if event.reason in (None, "internal_error")
            else "What to do: fix the file (or pick another) and upload it again.",
            details=[("File", title), ("Collection", collection), ("Reason code", event.reason)],
        )
        sms = _sms("Refused: ", title, f" ({collection}). {_reason(event)}", None)
    elif event.event == "rejected":
        path = _SCHEMA_PATH.match(event.detail or "") if event.reason == "schema_violation" else None
        subject = _subject("Change event rejected: ", event.reason or "internal_error", "")
        email = _body(
            "A change event from an upstream system was rejected; nothing was published for it.",
            f"Why: {_reason(event)}" + (f" The problem is at {clip_chars(path[1], 200)}." if path else ""),
            "What to do: fix the event so that it matches the contract and emit it again.",
            details=[("Reason code", event.reason)],
        )
        sms = _sms("Rejected change event: ", _reason(event), "", None)
    else:
        raise PermanentError(
            f"Item event type {event.event!r} is not one of {', '.join(EVENT_TYPES)}; no notification sent.",
            reason="unknown_event",
        )
    return Notification(
        event_id=event_id,
        subject=subject,
        email=email,
        sms=sms,
        attributes={
            "event": event.event,
            "owner": one_line(event.owner) or "unowned",
            "collection": collection or "none",
        },
    )


def message_structure(notification: Notification) -> str:
    """The SNS `MessageStructure=json` message: one text per protocol, email's as the default."""
    return json.dumps({"default": notification.email, "email": notification.email, "sms": notification.sms})


def filter_policy(
    owner: str | None = None, collection: str | None = None, events: list[str] | None = None
) -> dict[str, list[str]]:
    """An SNS filter policy on message attributes: only these owners, collections and event types."""
    if events is not None and not events:
        raise PermanentError(
            f"Choose at least one event type: {', '.join(EVENT_TYPES)}.", reason="invalid_subscription"
        )
    chosen = list(dict.fromkeys(events or EVENT_TYPES))
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        raise PermanentError(
            f"Unknown event type(s) {', '.join(unknown)}: choose from {', '.join(EVENT_TYPES)}.",
            reason="invalid_subscription",
        )
    policy: dict[str, list[str]] = {"event": chosen}
    # Normalised as the message attributes are, so that what a person types matches what is sent.
    if owner and one_line(owner):
        policy["owner"] = [one_line(owner)]
    if collection and one_line(collection):
        policy["collection"] = [one_line(collection)]
    return policy
