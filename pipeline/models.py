"""Pydantic models shared by handlers, logic and adapters. State payloads are pointers, never file bytes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base: immutable, and unknown fields are an error (a typo in a state's payload should fail loudly).

    Validators are built on a model's first use (`defer_build`), not at import: each handler uses two or three
    of these models, and building all of them cost every cold start ~40 ms.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ObjectRef(Model):
    """Where an uploaded object version lives."""

    bucket: str
    key: str
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    #: Who put it: the S3 event's `userIdentity.principalId` (`pipeline.logic.owners`).
    uploader: str | None = None


class ImageInfo(Model):
    """What the content says the image is."""

    format: str  # JPEG, PNG, WEBP, GIF, AVIF
    mime: str
    width: int
    height: int


class ImageMetadata(Model):
    """Descriptive metadata that may be published. GPS is never kept."""

    taken_at: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None


class Rendition(Model):
    """One generated thumbnail."""

    width: int
    height: int
    format: str
    mime: str
    bytes: int
    key: str = ""


class UserMetadata(Model):
    """The S3 user metadata an uploader may set."""

    title: str | None = None
    author: str | None = None
    category: str | None = None
    owner: str | None = None


class Upload(Model):
    """A validated upload: what every later step of the file workflow works from."""

    source: ObjectRef
    item_id: str
    collection: str
    name: str
    image: ImageInfo
    bytes: int
    sha256: str
    user: UserMetadata = Field(default_factory=UserMetadata)
    #: An `owner` the uploader claimed in metadata that is not theirs: ignored, and said in the item event.
    ignored_owner_claim: str | None = None


class VersionRecord(Model):
    """One recorded version of an item, as the metadata table stores it."""

    item_id: str
    version: int
    collection: str
    name: str
    source: ObjectRef
    image: ImageInfo
    bytes: int
    sha256: str
    user: UserMetadata = Field(default_factory=UserMetadata)
    metadata: ImageMetadata = Field(default_factory=ImageMetadata)
    thumbnails: list[Rendition] = Field(default_factory=list)
    recorded_at: str
    ignored_owner_claim: str | None = None


class ItemState(Model):
    """An item's pointer: which version is latest, and how many are recorded."""

    item_id: str
    collection: str
    latest: int | None = None
    versions: int = 0
    updated_at: str | None = None
    #: Set for items created through the upload API: whose item it is, its object key, and when an upload
    #: form was last handed out (`pipeline.logic.api`).
    owner: str | None = None
    key: str | None = None
    upload_requested_at: str | None = None
    allocated: int = 0


class ChangeEvent(Model):
    """One upstream change, as its contract (pipeline/contracts/change-event.schema.json) describes it."""

    schema_version: int
    source: str
    entity: str
    id: str
    op: str  # upsert | delete
    sequence: int
    occurred_at: str
    data: dict[str, Any] | None = None
    owner: str | None = None
    collection: str | None = None
    actor: str | None = None


class StoredChange(Model):
    """The winning change of one record, as the metadata table stores it."""

    change: ChangeEvent
    recorded_at: str


class ItemEvent(BaseModel):
    """One message on the ItemEvents topic: what happened to an item, for notifications and other consumers.

    Unknown fields are ignored (publishers may add some); only the fields below are ever rendered for people.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    event: str  # published | failed | deleted | rejected
    item_id: str
    collection: str = "none"
    owner: str = "unowned"
    event_id: str | None = None  # the publisher's business key for this event (D7)
    title: str | None = None
    name: str | None = None
    version: int | None = None
    latest: int | None = None
    entity: str | None = None
    sequence: int | None = None
    url: str | None = None
    thumbnail: str | None = None
    reason: str | None = None
    detail: str | None = None


class Notification(Model):
    """One item event as people receive it: per protocol, with the attributes filters match."""

    event_id: str
    subject: str
    email: str
    sms: str
    attributes: dict[str, str]
