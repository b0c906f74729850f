"""The upload API's decisions (DESIGN.md D18): request bodies, upload keys, upload forms, upload status.

Pure functions. The owner of an item is the caller's identity (the JWT's `sub`), which names the UploaderRole
session that signs the upload form, so the S3 event names the owner as any upload by that user would
(`pipeline.logic.owners`); a body never names an owner.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import PermanentError
from pipeline.logic.keys import UPLOAD_PREFIX
from pipeline.logic.uploads import MAX_METADATA_CHARS, encode_metadata

#: How long a presigned upload form stays valid.
UPLOAD_FORM_SECONDS = 300
#: A collection is a short slug: it is part of object keys and document names.
COLLECTION_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
#: STS role session names: the owner a JWT subject becomes (`pipeline.logic.owners`).
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
#: User metadata the API sets on the uploaded object, read back by Validate (`pipeline.logic.uploads`).
METADATA_FIELDS = ("title", "author", "category")


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    author: str | None = Field(default=None, max_length=MAX_METADATA_CHARS)
    category: str | None = Field(default=None, max_length=MAX_METADATA_CHARS)

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        if isinstance(value, str) and any(unicodedata.category(c).startswith("C") for c in value):
            raise ValueError("must not contain control characters")
        return value


class CreateItem(_Body):
    """`POST /items`: what the new item is called and where it goes."""

    title: str = Field(min_length=1, max_length=MAX_METADATA_CHARS)
    collection: str = Field(pattern=COLLECTION_PATTERN)


class UpdateItem(_Body):
    """`PUT /items/{id}`: metadata for the next version (omitted fields keep the item's)."""

    title: str | None = Field(default=None, min_length=1, max_length=MAX_METADATA_CHARS)


BodyT = TypeVar("BodyT", bound=_Body)


def parse_body(raw: str | None, is_base64: bool, model: type[BodyT], *, required: bool = True) -> BodyT:
    """A request body as `model`; anything else is `bad_request` with a sentence naming the problem."""
    text = raw or ""
    if is_base64:
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise PermanentError("The body is not UTF-8 JSON.", reason="bad_request") from exc
    if not text.strip():
        if required:
            raise PermanentError("The body is empty; send a JSON object.", reason="bad_request")
        return model()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermanentError(
            f"The body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            reason="bad_request",
        ) from exc
    if not isinstance(data, dict):
        raise PermanentError("The body must be a JSON object.", reason="bad_request")
    if "owner" in data:
        raise PermanentError(
            "Remove `owner`: an item's owner is whoever signs in, never a field of the request.",
            reason="bad_request",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise PermanentError(f"The body is not valid: {problems}.", reason="bad_request") from exc


def _problem(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "body"
    if error["type"] == "extra_forbidden":
        return f"`{field}` is not a field this request takes"
    if error["type"] == "missing":
        return f"`{field}` is required"
    if error["type"] == "string_pattern_mismatch" and field == "collection":
        return (
            "`collection` must be up to 63 lower-case letters, digits and hyphens, not starting with a hyphen"
        )
    return f"`{field}` {str(error['msg']).lower()}"


def owner_for(subject: str | None) -> str:
    """The owner (and UploaderRole session name) a token's subject stands for; refused if STS would."""
    if not subject or not _SESSION_NAME.match(subject):
        raise PermanentError(
            "Your token's subject cannot name an upload session: it must be 2 to 64 letters, digits or "
            "_+=,.@- characters.",
            reason="bad_identity",
        )
    return subject.lower()


def slug(text: str, limit: int = 40) -> str:
    """A key-safe name from a title: ASCII letters and digits joined by hyphens ('item' when none remain)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(words)[:limit].strip("-") or "item"


def upload_key(collection: str, title: str, token: str) -> str:
    """A new item's object key: `uploads/<collection>/<slug of title>-<token>` (the token keeps it unique)."""
    return f"{UPLOAD_PREFIX}{collection}/{slug(title)}-{token}"


def upload_form(
    key: str, max_bytes: int, metadata: dict[str, str | None]
) -> tuple[dict[str, str], list[Any]]:
    """The fields and policy conditions of a presigned POST for exactly `key`, at most `max_bytes` bytes,
    carrying `metadata` as S3 user metadata (each field pinned by an exact condition)."""
    fields = {f"x-amz-meta-{name}": encode_metadata(value) for name, value in metadata.items() if value}
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, max_bytes])
    return fields, conditions


UploadState = Literal["waiting", "published", "quarantined"]


class UploadStatus(BaseModel):
    """`GET /uploads/{id}/status`: where the latest upload of an item is."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: UploadState
    version: int | None = None
    reason: str | None = None
    message: str | None = None
    public_url: str | None = None


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def upload_status(
    item: str,
    requested_at: str | None,
    latest: tuple[int, str] | None,
    refusal: dict[str, Any] | None,
    public_url: str,
    public_version: int | None = None,
) -> UploadStatus:
    """The state of the latest upload asked for at `requested_at`: published when a version was recorded
    since and its public document is out, quarantined when a refusal was recorded since (the later of the
    two wins), else waiting.

    `latest` is (version, recorded_at) of the item's latest version; `refusal` is the quarantine record
    (`reason`, `reason_text`, `time`) of its newest refused upload; `public_version` is the version the
    item's public document shows (None: no document yet).
    """
    if latest is not None and (public_version is None or public_version < latest[0]):
        latest = None  # recorded, but its documents are not written yet: a reader would not find it
    since = _instant(requested_at)
    published_at = _instant(latest[1]) if latest else None
    refused_at = _instant(str(refusal.get("time"))) if refusal else None
    # Quarantine records keep whole seconds: a refusal in the second the form was asked for counts.
    fresh_refusal = refused_at is not None and (since is None or refused_at >= since.replace(microsecond=0))
    fresh_version = published_at is not None and (since is None or published_at >= since)
    if (
        fresh_refusal
        and refusal
        and not (fresh_version and published_at and refused_at and published_at > refused_at)
    ):
        return UploadStatus(
            id=item,
            state="quarantined",
            reason=str(refusal.get("reason", "internal_error")),
            message=str(refusal.get("reason_text") or ""),
        )
    if fresh_version and latest:
        return UploadStatus(id=item, state="published", version=latest[0], public_url=public_url)
    return UploadStatus(id=item, state="waiting")
