"""Notifications people receive: SMS and subject limits, nothing private, filters, who may subscribe."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest

from pipeline.cli.subscribers import email_address, phone_number
from pipeline.errors import REASONS, PermanentError
from pipeline.logic.notifications import (
    SMS_MAX_BYTES,
    SUBJECT_MAX_CHARS,
    clip_utf8,
    event_identity,
    filter_policy,
    message_structure,
    render,
)
from pipeline.models import ItemEvent, Notification

URL = "https://d111111abcdef8.cloudfront.net/items/9df8eb30c8890b24c66f55f8.json"
THUMB = "https://d111111abcdef8.cloudfront.net/thumbs/9df8eb30c8890b24c66f55f8/2/128.webp"

PUBLISHED: dict[str, Any] = {
    "event": "published",
    "event_id": "published:9df8eb30c8890b24c66f55f8:v2",
    "item_id": "9df8eb30c8890b24c66f55f8",
    "title": "Sunset",
    "version": 2,
    "latest": 2,
    "collection": "holidays",
    "owner": "ada",
    "url": URL,
    "thumbnail": THUMB,
}
FAILED: dict[str, Any] = {
    "event": "failed",
    "event_id": "failed:e1ee83c1670c832d43f8c69a:3HL4kqtJ",
    "item_id": "e1ee83c1670c832d43f8c69a",
    "name": "notes.jpg",
    "collection": "holidays",
    "owner": "ada",
    "reason": "unsupported_type",
    "detail": "The file's content is plain text, not an accepted image type.",
    "key": "uploads/holidays/notes.jpg",
}
RECORD: dict[str, Any] = {
    "event": "published",
    "event_id": "published:shop/product/p-1@7",
    "item_id": "product/p-1",
    "title": "Kettle",
    "entity": "product",
    "sequence": 7,
    "collection": "catalog",
    "owner": "shop",
    "url": "https://d111111abcdef8.cloudfront.net/records/product/p-1.json",
}
DELETED: dict[str, Any] = {
    **RECORD,
    "event": "deleted",
    "event_id": "deleted:shop/product/p-1@8",
    "sequence": 8,
}
REJECTED: dict[str, Any] = {
    "event": "rejected",
    "event_id": "rejected:0a1b",
    "item_id": "change/0a1b",
    "collection": "none",
    "owner": "unowned",
    "reason": "schema_violation",
    "detail": "at $.sequence: 'one' is not of type 'integer'",
}
ALL_EVENTS = [PUBLISHED, FAILED, RECORD, DELETED, REJECTED]

TITLES = [
    "Sunset",
    "Ünïcödé façade — été " * 12,
    "日本の夏の写真" * 20,
    "🌅🏔️👨‍👩‍👧‍👦" * 30,
    "e\u0301" * 120,  # e + combining acute: a cut must not leave a bare accent
    "x" * 500,
]


def _render(message: dict[str, Any]) -> Notification:
    event = ItemEvent.model_validate(message)
    return render(event, event_identity(event, message))


@pytest.mark.parametrize("title", TITLES, ids=range(len(TITLES)))
@pytest.mark.parametrize("message", ALL_EVENTS, ids=lambda m: str(m["event_id"]).split(":")[0])
def test_an_sms_is_one_line_of_at_most_140_utf8_bytes_never_cut_inside_a_character(
    message: dict[str, Any], title: str
) -> None:
    # Given an item event with a long, multi-byte title
    # When it is rendered
    sms = _render({**message, "title": title, "name": title}).sms
    # Then the SMS fits 140 bytes of UTF-8, on one line, and ends on a whole character
    encoded = sms.encode("utf-8")
    assert len(encoded) <= SMS_MAX_BYTES
    assert encoded.decode("utf-8") == sms
    assert "\n" not in sms
    assert not unicodedata.combining(sms[-1])


def test_an_sms_keeps_its_link_by_shortening_the_title() -> None:
    # Given a published item with a title far too long for an SMS
    sms = _render({**PUBLISHED, "title": "日本の夏の写真" * 20}).sms
    # Then the link to its JSON survives whole and the title is cut with a GSM-safe ellipsis
    assert sms.endswith(URL)
    assert "..." in sms and "…" not in sms
    assert len(sms.encode()) <= SMS_MAX_BYTES


def test_an_sms_keeps_the_file_name_when_the_words_after_it_are_long() -> None:
    # Given a refused file in a collection with a very long name
    sms = _render({**FAILED, "name": "holiday-photo.jpg", "collection": "c" * 120}).sms
    # Then the file name survives and the rest is shortened
    assert sms.startswith("Refused: holiday-photo.jpg (ccc")
    assert len(sms.encode()) <= SMS_MAX_BYTES


def test_clipping_counts_bytes_not_characters() -> None:
    assert clip_utf8("ééééé", 7) == "éé…"  # 2 + 2 + 3 bytes
    assert clip_utf8("short", 140) == "short"


@pytest.mark.parametrize("title", TITLES, ids=range(len(TITLES)))
@pytest.mark.parametrize("message", ALL_EVENTS, ids=lambda m: str(m["event_id"]).split(":")[0])
def test_an_email_subject_is_under_100_characters_on_one_line(message: dict[str, Any], title: str) -> None:
    # Given an item event whose title is long, multi-byte, or carries line breaks
    subject = _render({**message, "title": title + "\nsecond line\t", "name": title}).subject
    # Then the subject is within SNS's limit and has no line breaks or control characters
    assert 0 < len(subject) <= SUBJECT_MAX_CHARS < 100
    assert all(ch.isprintable() for ch in subject)


def test_a_published_email_says_what_happened_with_title_collection_version_and_links() -> None:
    note = _render(PUBLISHED)
    assert note.subject == "Published: Sunset (holidays, v2)"
    for expected in ("Sunset was published in collection holidays as v2", URL, THUMB, "latest version"):
        assert expected in note.email
    assert note.attributes == {"event": "published", "owner": "ada", "collection": "holidays"}


def test_a_failure_is_explained_in_plain_words_from_its_reason_code() -> None:
    note = _render(FAILED)
    assert note.subject == "Upload refused: notes.jpg (holidays)"
    assert REASONS["unsupported_type"] in note.email
    assert REASONS["unsupported_type"] in note.sms


PRIVATE = {
    "gps": {"latitude": 48.858, "longitude": 2.2945},
    "quarantine_key": "quarantine/uploads/holidays/notes.jpg/3HL4kqtJ/object",
    "bucket": "pipeline-quarantinebucket-1x2y3z",
}
#: What a detail may carry: an internal error's trace and keys, or a validator message quoting private data.
LEAKY_DETAILS = {
    "internal_error": 'Traceback (most recent call last):\n  File "/var/task/x.py", line 1: '
    "s3://pipeline-quarantinebucket-1x2y3z/quarantine/uploads/holidays/notes.jpg/object 48.858,2.2945",
    "schema_violation": 'at $.data: \'{"home_gps": [48.858, 2.2945], "phone": "+33612345678"}\' '
    "is not of type 'object'",
}


@pytest.mark.parametrize("message", ALL_EVENTS, ids=lambda m: str(m["event_id"]).split(":")[0])
@pytest.mark.parametrize("reason", sorted(LEAKY_DETAILS))
def test_no_gps_internal_key_private_value_or_stack_trace_reaches_any_message(
    message: dict[str, Any], reason: str
) -> None:
    # Given an item event whose detail holds a trace, internal keys, GPS or quoted private values,
    # and which carries GPS and quarantine keys in fields of its own
    leaky = {**message, **PRIVATE, "reason": reason, "detail": LEAKY_DETAILS[reason]}
    # When it is rendered
    note = _render(leaky)
    # Then none of it appears in the subject, the email or the SMS
    text = json.dumps([note.subject, note.email, note.sms])
    for secret in (
        "48.858",
        "2.2945",
        "+33612345678",
        "quarantine",
        "Traceback",
        "/var/task",
        "gps",
        "s3://",
    ):
        assert secret not in text, (secret, text)
    assert "uploads/holidays" not in text


def test_a_rejected_change_names_the_schema_path_the_sender_must_fix() -> None:
    note = _render(REJECTED)
    assert "The problem is at $.sequence." in note.email
    assert REASONS["schema_violation"] in note.email
    assert "'one'" not in note.email  # the validator's words, which may quote the event's values


def test_the_message_has_one_text_per_protocol_and_email_is_the_default() -> None:
    note = _render(PUBLISHED)
    structure = json.loads(message_structure(note))
    assert structure == {"default": note.email, "email": note.email, "sms": note.sms}


def test_an_event_without_an_id_is_known_by_its_content() -> None:
    # Given the same event twice without an event_id, and a different one
    bare = {k: v for k, v in PUBLISHED.items() if k != "event_id"}
    other = {**bare, "version": 3}
    # Then the same content has the same identity and different content a different one
    same = event_identity(ItemEvent.model_validate(bare), bare)
    assert same == event_identity(ItemEvent.model_validate(dict(bare)), dict(bare))
    assert same != event_identity(ItemEvent.model_validate(other), other)
    assert event_identity(ItemEvent.model_validate(PUBLISHED), PUBLISHED) == PUBLISHED["event_id"]


def test_an_unknown_event_type_is_refused_with_a_reason() -> None:
    with pytest.raises(PermanentError) as refused:
        _render({**PUBLISHED, "event": "exploded"})
    assert refused.value.reason == "unknown_event"


def test_filter_policies_match_owner_collection_and_event_types() -> None:
    assert filter_policy(owner="ada", collection="holidays", events=["failed"]) == {
        "event": ["failed"],
        "owner": ["ada"],
        "collection": ["holidays"],
    }
    assert filter_policy() == {"event": ["published", "failed", "deleted", "rejected"]}
    with pytest.raises(PermanentError) as refused:
        filter_policy(events=["published", "exploded"])
    assert refused.value.reason == "invalid_subscription"
    assert "exploded" in refused.value.message
    with pytest.raises(PermanentError, match="at least one"):
        filter_policy(events=[])
    # ...normalised as message attributes are, so an owner typed with stray spaces still matches
    assert filter_policy(owner=" ada  lovelace ")["owner"] == ["ada lovelace"]


@pytest.mark.parametrize(
    ("given", "expected"), [("+14155550123", "+14155550123"), ("+44 20 7946 0958", "+442079460958")]
)
def test_valid_phone_numbers_are_kept_in_e164(given: str, expected: str) -> None:
    assert phone_number(given) == expected


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("4155550123", "start with + and the country code"),
        ("+1555", "not a valid number"),
        ("+1415555012345678", "E.164"),
        ("+1-phone", "E.164"),
        ("+12", "not a valid number"),
        ("", "start with +"),
    ],
)
def test_invalid_phone_numbers_are_refused_with_what_to_fix(given: str, says: str) -> None:
    with pytest.raises(PermanentError) as refused:
        phone_number(given)
    assert refused.value.reason == "invalid_subscription"
    assert says in refused.value.message


def test_a_plausible_email_address_is_kept() -> None:
    assert email_address(" reader@example.com ") == "reader@example.com"


@pytest.mark.parametrize("given", ["reader", "reader@", "@example.com", "reader@exa mple.com", "a@b", ""])
def test_an_implausible_email_address_is_refused(given: str) -> None:
    with pytest.raises(PermanentError) as refused:
        email_address(given)
    assert refused.value.reason == "invalid_subscription"
    assert "not a plausible email address" in refused.value.message
