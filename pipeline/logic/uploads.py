"""Decisions about one upload that need no AWS: size limits, user metadata, the validated record."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from email.header import decode_header, make_header

from pipeline.errors import PermanentError
from pipeline.logic.keys import item_id, parse_upload_key
from pipeline.logic.owners import owner_of, ownership
from pipeline.models import ImageInfo, ObjectRef, Upload, UserMetadata

#: S3 user metadata values are capped so that documents and notifications stay small.
MAX_METADATA_CHARS = 200


def check_size(size: int, max_bytes: int) -> None:
    """Refuse empty and oversized objects from their head, before a byte is downloaded."""
    if size == 0:
        raise PermanentError("The file is empty.", reason="empty_file")
    if size > max_bytes:
        raise PermanentError(f"The file has {size} bytes; the limit is {max_bytes}.", reason="too_large")


def encode_metadata(value: str) -> str:
    """An S3 user-metadata value: ASCII as is, anything else as an RFC 2047 encoded word (as S3 does)."""
    if value.isascii():
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode()).decode()}?="


def decode_metadata(value: str) -> str:
    """The text an S3 user-metadata value stands for (RFC 2047 encoded words decoded)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value


def user_metadata(
    metadata: Mapping[str, str], uploader: str | None = None, uploader_role_id: str = ""
) -> UserMetadata:
    """The optional `title`, `author`, `category` an uploader set as S3 user metadata, and the owner its
    identity stands for (`pipeline.logic.owners`): an `owner` in the metadata is never believed."""
    fields = ("title", "author", "category")
    return UserMetadata(
        **{
            f: decode_metadata(metadata[f]).strip()[:MAX_METADATA_CHARS]
            for f in fields
            if decode_metadata(metadata.get(f, "")).strip()
        },
        owner=owner_of(uploader, uploader_role_id),
    )


def validated_upload(
    ref: ObjectRef, data: bytes, image: ImageInfo, metadata: Mapping[str, str], uploader_role_id: str = ""
) -> Upload:
    """The record every later step works from: where the object is, what it is, and whose item it is."""
    collection, name = parse_upload_key(ref.key)
    return Upload(
        source=ref,
        item_id=item_id(ref.bucket, ref.key),
        collection=collection,
        name=name,
        image=image,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        user=user_metadata(metadata, ref.uploader, uploader_role_id),
        ignored_owner_claim=ownership(ref.uploader, metadata.get("owner"), uploader_role_id).ignored_claim,
    )
