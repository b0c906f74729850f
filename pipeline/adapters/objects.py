"""S3: object heads and bytes, public documents, and JSON documents updated with conditional writes."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient
from pipeline.errors import PermanentError, TransientError
from pipeline.models import ObjectRef

JSON_TYPE = "application/json; charset=utf-8"
CONFLICT_BACKOFF_S = 0.01
CONFLICT_BACKOFF_CAP_S = 0.5


@dataclass(frozen=True)
class Head:
    """What HeadObject says about one object version."""

    size: int
    etag: str
    version_id: str | None
    metadata: dict[str, str]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ObjectStore:
    """S3 operations the pipeline needs. The client is injectable; the default is made once per cold start."""

    s3 = LazyClient("s3")

    def __init__(self, client: Any | None = None) -> None:
        self.s3 = client

    def _version(self, ref: ObjectRef) -> dict[str, str]:
        return {"VersionId": ref.version_id} if ref.version_id else {}

    def head(self, ref: ObjectRef) -> Head:
        """The object's size and user metadata, read before any byte is downloaded."""
        try:
            response = self.s3.head_object(Bucket=ref.bucket, Key=ref.key, **self._version(ref))
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NoSuchVersion"):
                raise PermanentError(
                    f"s3://{ref.bucket}/{ref.key} no longer exists.", reason="missing_object"
                ) from exc
            raise TransientError(f"S3 HeadObject failed: {exc}") from exc
        return Head(
            size=int(response["ContentLength"]),
            etag=str(response.get("ETag", "")).strip('"'),
            version_id=response.get("VersionId"),
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        )

    def read(self, ref: ObjectRef) -> bytes:
        """The bytes of exactly this object version."""
        try:
            response = self.s3.get_object(Bucket=ref.bucket, Key=ref.key, **self._version(ref))
        except ClientError as exc:
            raise TransientError(f"S3 GetObject failed: {exc}") from exc
        body: bytes = response["Body"].read()
        return body

    def put(self, bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
        try:
            self.s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl=cache_control
            )
        except ClientError as exc:
            raise TransientError(f"S3 PutObject of {key} failed: {exc}") from exc

    def put_json(self, bucket: str, key: str, document: dict[str, Any], *, cache_control: str) -> None:
        self.put(bucket, key, _dump(document), content_type=JSON_TYPE, cache_control=cache_control)

    def copy(self, ref: ObjectRef, bucket: str, key: str) -> None:
        source = {"Bucket": ref.bucket, "Key": ref.key, **self._version(ref)}
        try:
            self.s3.copy_object(CopySource=source, Bucket=bucket, Key=key)
        except ClientError as exc:
            raise TransientError(f"S3 CopyObject to {key} failed: {exc}") from exc

    def delete_keys(self, bucket: str, keys: list[str]) -> None:
        """Delete these keys (their current versions); keys that are not there are no error."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            try:
                answer = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            except ClientError as exc:
                raise TransientError(f"S3 DeleteObjects in {bucket} failed: {exc}") from exc
            if answer.get("Errors"):
                raise TransientError(f"S3 DeleteObjects in {bucket} refused: {answer['Errors'][0]}")

    def read_json(self, bucket: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
        """A JSON document and its ETag, or (None, None) when there is none yet."""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None, None
            raise TransientError(f"S3 GetObject of {key} failed: {exc}") from exc
        document: dict[str, Any] = json.loads(response["Body"].read())
        return document, str(response["ETag"])

    def update_json(
        self,
        bucket: str,
        key: str,
        change: Callable[[dict[str, Any] | None], dict[str, Any]],
        *,
        cache_control: str,
        attempts: int = 20,
    ) -> dict[str, Any]:
        """Read-modify-write a JSON document with conditional writes, so concurrent writers lose nothing.

        A document the change leaves as it is is not written again. After a lost race the next attempt waits a
        little (full jitter, capped), so that many writers of one hot document spread out.
        """
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, min(CONFLICT_BACKOFF_CAP_S, CONFLICT_BACKOFF_S * 2**attempt)))
            current, etag = self.read_json(bucket, key)
            updated = change(current)
            if current is not None and updated == current:
                return current
            condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
            try:
                self.s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=_dump(updated),
                    ContentType=JSON_TYPE,
                    CacheControl=cache_control,
                    **condition,
                )
            except ClientError as exc:
                if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    continue  # someone else wrote first: read their version and apply the change again
                raise TransientError(f"S3 PutObject of {key} failed: {exc}") from exc
            return updated
        raise TransientError(f"{key} kept changing under {attempts} conditional writes; retry later.")


def newest_json(store: ObjectStore, bucket: str, prefix: str, name: str) -> dict[str, Any] | None:
    """The most recently written `<prefix>…/<name>` JSON document, or None when there is none."""
    newest: tuple[Any, str] | None = None
    try:
        for page in store.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                if entry["Key"].endswith(f"/{name}") and (
                    newest is None or entry["LastModified"] > newest[0]
                ):
                    newest = (entry["LastModified"], entry["Key"])
    except ClientError as exc:
        raise TransientError(f"S3 ListObjectsV2 of {prefix} failed: {exc}") from exc
    return store.read_json(bucket, newest[1])[0] if newest else None


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
