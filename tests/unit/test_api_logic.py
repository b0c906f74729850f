"""The upload API's decisions (`pipeline.logic.api`): bodies, owners, keys, forms and upload status."""

from __future__ import annotations

import base64
import json

import pytest

from pipeline.errors import PermanentError
from pipeline.logic import api
from pipeline.logic.uploads import decode_metadata, user_metadata


def test_a_valid_create_body_is_parsed_with_its_whitespace_trimmed() -> None:
    # Given a body with a title, a collection and an author
    raw = json.dumps({"title": "  Sunset over the bay ", "collection": "holidays", "author": "Ann"})
    # When it is parsed
    body = api.parse_body(raw, False, api.CreateItem)
    # Then the fields are as sent, trimmed
    assert (body.title, body.collection, body.author, body.category) == (
        "Sunset over the bay",
        "holidays",
        "Ann",
        None,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "{not json",
            "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)",
        ),
        ("[1, 2]", "must be a JSON object"),
        ("", "The body is empty"),
        ('{"collection": "x"}', "`title` is required"),
        ('{"title": "t", "collection": "Bad Name"}', "`collection` must be up to 63 lower-case letters"),
        ('{"title": "t", "collection": "c", "colour": "red"}', "`colour` is not a field this request takes"),
        ('{"title": "t", "collection": "c", "owner": "bob"}', "Remove `owner`"),
        ('{"title": "a\\u0000b", "collection": "c"}', "control characters"),
        ('{"title": "' + "x" * 201 + '", "collection": "c"}', "`title` string should have at most 200"),
    ],
)
def test_a_bad_body_is_refused_as_bad_request_with_a_sentence_naming_the_problem(
    raw: str, expected: str
) -> None:
    # Given a body that is not a valid create request
    # When it is parsed
    with pytest.raises(PermanentError) as refused:
        api.parse_body(raw, False, api.CreateItem)
    # Then it is refused as bad_request, and the sentence says what is wrong
    assert refused.value.reason == "bad_request"
    assert expected in refused.value.message


def test_a_base64_body_is_decoded_and_an_empty_update_body_is_allowed() -> None:
    # Given a base64-encoded body (API Gateway encodes bodies it does not take for text), and an empty one
    raw = base64.b64encode(json.dumps({"title": "Été", "collection": "c"}).encode()).decode()
    # When they are parsed
    created = api.parse_body(raw, True, api.CreateItem)
    updated = api.parse_body(None, False, api.UpdateItem, required=False)
    # Then the text is the UTF-8 sent, and the empty update changes nothing
    assert created.title == "Été"
    assert updated.model_dump(exclude_none=True) == {}


@pytest.mark.parametrize("subject", [None, "", "a", "has space", "x" * 65, "semi;colon"])
def test_a_subject_sts_would_refuse_as_session_name_cannot_own_items(subject: str | None) -> None:
    # Given a token subject that is not a valid role session name
    # When it is made an owner
    with pytest.raises(PermanentError) as refused:
        api.owner_for(subject)
    # Then it is refused as bad_identity
    assert refused.value.reason == "bad_identity"


def test_an_owner_is_the_subject_in_lower_case() -> None:
    # Given a Cognito-like subject and an e-mail-like one
    # When they are made owners
    # Then they keep their characters, in lower case (as owners from S3 events are)
    assert api.owner_for("3f1c9a2e-7B41") == "3f1c9a2e-7b41"
    assert api.owner_for("Ann@Example.com") == "ann@example.com"


def test_an_upload_key_is_a_slug_of_the_title_under_the_collection() -> None:
    # Given a title with accents, punctuation and emoji
    # When its key is made
    key = api.upload_key("holidays", "Crème brûlée — at Ann's! 🎉", "0a1b2c3d")
    # Then it is uploads/<collection>/<ascii slug>-<token>, and a title with nothing left is "item"
    assert key == "uploads/holidays/creme-brulee-at-ann-s-0a1b2c3d"
    assert api.upload_key("c", "🎉🎉", "ff") == "uploads/c/item-ff"


def test_an_upload_form_pins_every_metadata_field_and_the_size_range() -> None:
    # Given metadata with a non-ASCII title and no category
    # When the form's fields and conditions are made
    fields, conditions = api.upload_form(
        "uploads/c/x-1", 1000, {"title": "Café", "author": "Ann", "category": None}
    )
    # Then each set field is pinned by an exact condition, the size range is 1..limit, and the
    # non-ASCII title travels as an RFC 2047 word that Validate reads back as the text
    assert set(fields) == {"x-amz-meta-title", "x-amz-meta-author"}
    assert {"x-amz-meta-author": "Ann"} in conditions
    assert ["content-length-range", 1, 1000] in conditions
    assert fields["x-amz-meta-title"].isascii()
    assert decode_metadata(fields["x-amz-meta-title"]) == "Café"
    assert user_metadata({"title": fields["x-amz-meta-title"]}).title == "Café"


REQUESTED = "2026-11-30T10:00:00.500Z"


@pytest.mark.parametrize(
    ("latest", "refusal", "state"),
    [
        (None, None, "waiting"),
        ((1, "2026-11-30T10:00:05.000Z"), None, "published"),
        ((1, "2026-11-30T09:00:00.000Z"), None, "waiting"),  # an older version: this upload is not in yet
        (
            None,
            {"reason": "corrupt_image", "reason_text": "Damaged.", "time": "2026-11-30T10:00:00Z"},
            "quarantined",
        ),
        (None, {"reason": "corrupt_image", "time": "2026-11-30T09:59:59Z"}, "waiting"),  # an earlier refusal
        (
            (2, "2026-11-30T10:00:09.000Z"),
            {"reason": "polyglot", "time": "2026-11-30T10:00:03Z"},
            "published",
        ),
        (
            (2, "2026-11-30T10:00:02.000Z"),
            {"reason": "polyglot", "reason_text": "Two formats.", "time": "2026-11-30T10:00:07Z"},
            "quarantined",
        ),
    ],
)
def test_an_uploads_status_is_the_latest_outcome_since_the_form_was_asked_for(
    latest: tuple[int, str] | None, refusal: dict[str, str] | None, state: str
) -> None:
    # Given an upload form asked for at REQUESTED, and what the item's records say
    # When the status is read
    public = latest[0] if latest else None
    status = api.upload_status("item1", REQUESTED, latest, refusal, "https://cdn/items/item1.json", public)
    # Then the newest outcome since then decides it
    assert status.state == state
    if state == "quarantined":
        assert refusal is not None and status.reason == refusal["reason"]
    if state == "published":
        assert latest is not None and status.version == latest[0] and status.public_url


def test_a_recorded_version_is_waiting_until_its_public_document_shows_it() -> None:
    # Given version 2 recorded after the form was asked for, while the public document still shows version 1
    latest = (2, "2026-11-30T10:00:05.000Z")
    # When the status is read before and after Publish wrote the document
    before = api.upload_status("item1", REQUESTED, latest, None, "https://cdn/items/item1.json", 1)
    after = api.upload_status("item1", REQUESTED, latest, None, "https://cdn/items/item1.json", 2)
    # Then it is waiting, then published: a reader following public_url finds the version
    assert (before.state, after.state, after.version) == ("waiting", "published", 2)
