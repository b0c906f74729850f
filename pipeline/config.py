"""Settings of the Lambda functions: a Pydantic model built once per cold start from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache

from pydantic import BaseModel, ConfigDict, field_validator

from pipeline.logic.redelivery import BASE_S


class Settings(BaseModel):
    """What the template passes every function (DESIGN.md §5: logic never reads os.environ)."""

    model_config = ConfigDict(frozen=True)

    public_bucket: str = ""
    quarantine_bucket: str = ""
    table_name: str = ""
    file_workflow_arn: str = ""
    change_workflow_arn: str = ""
    change_events_topic_arn: str = ""
    archive_bucket: str = ""
    public_base_url: str = ""
    #: The UploaderRole's unique id: only its sessions own what they upload (`pipeline.logic.owners`).
    uploader_role_id: str = ""
    #: The upload API's: the ingest bucket, and the role whose sessions sign upload forms.
    ingest_bucket: str = ""
    uploader_role_arn: str = ""
    user_notifications_topic_arn: str = ""
    idempotency_table: str = ""
    notify_dead_letter_queue_url: str = ""
    thumbnail_widths: tuple[int, ...] = (128, 512, 1024)
    thumbnail_format: str = "webp"
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    #: The first redelivery delay's ceiling of a queue consumer's messages (`pipeline.logic.redelivery`).
    redelivery_base_s: int = BASE_S

    @field_validator("thumbnail_widths", mode="before")
    @classmethod
    def _widths(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        names = {
            "public_bucket": "PUBLIC_BUCKET",
            "quarantine_bucket": "QUARANTINE_BUCKET",
            "table_name": "METADATA_TABLE",
            "file_workflow_arn": "FILE_WORKFLOW_ARN",
            "change_workflow_arn": "CHANGE_WORKFLOW_ARN",
            "change_events_topic_arn": "CHANGE_EVENTS_TOPIC_ARN",
            "archive_bucket": "ARCHIVE_BUCKET",
            "public_base_url": "PUBLIC_BASE_URL",
            "uploader_role_id": "UPLOADER_ROLE_ID",
            "ingest_bucket": "INGEST_BUCKET",
            "uploader_role_arn": "UPLOADER_ROLE_ARN",
            "user_notifications_topic_arn": "USER_NOTIFICATIONS_TOPIC_ARN",
            "idempotency_table": "IDEMPOTENCY_TABLE",
            "notify_dead_letter_queue_url": "NOTIFY_DEAD_LETTER_QUEUE_URL",
            "thumbnail_widths": "THUMBNAIL_WIDTHS",
            "thumbnail_format": "THUMBNAIL_FORMAT",
            "max_upload_bytes": "MAX_UPLOAD_BYTES",
            "max_pixels": "MAX_PIXELS",
            "redelivery_base_s": "REDELIVERY_BASE_SECONDS",
        }
        return cls.model_validate({field: env[var] for field, var in names.items() if var in env})


@cache
def settings() -> Settings:
    """This process's settings, read once."""
    return Settings.from_env(os.environ)
