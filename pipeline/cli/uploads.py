"""Client-side tools for the upload pipeline: put files into the ingest bucket, learn what became of them.

Used by `pipeline ingest`, `pipeline status` and `pipeline demo`; they talk to any endpoint (the embedded AWS
or AWS itself) through the stack's Outputs. Not deployed to Lambda.
"""

from __future__ import annotations

import mimetypes
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError

from pipeline.adapters.clients import client
from pipeline.adapters.objects import ObjectStore
from pipeline.errors import StackNotFoundError, UploaderIdentityError
from pipeline.logic.documents import item_key
from pipeline.logic.keys import item_id


@dataclass
class Stack:
    """A deployed pipeline, found by its CloudFormation Outputs."""

    outputs: dict[str, str]
    endpoint_url: str | None
    region: str = "us-east-1"
    #: One client per service, made on first use: making one costs tens of milliseconds of CPU, and status
    #: polls ask for one per file several times a second. Clients are thread-safe.
    _clients: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def find(cls, stack_name: str, endpoint_url: str | None, region: str = "us-east-1") -> Stack:
        """The stack's Outputs; a clear error when nothing answers or there is no such stack."""
        cfn = client("cloudformation", endpoint_url=endpoint_url, region=region, max_attempts=1)
        where = endpoint_url or f"AWS ({region})"
        try:
            description = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        except EndpointConnectionError as exc:
            raise StackNotFoundError(
                f"Nothing answers at {where}: start the embedded AWS first (`make up` or `pipeline up`), "
                "or point --endpoint-url elsewhere (empty for AWS itself)."
            ) from exc
        except ClientError as exc:
            raise StackNotFoundError(
                f"No stack {stack_name!r} at {where}: {exc.response['Error'].get('Message', exc)}. "
                "Deploy it (`pipeline up` deploys template.yaml as stack 'pipeline') or pass --stack-name "
                "and --region."
            ) from exc
        outputs = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        return cls(outputs, endpoint_url, region)

    def client(self, service: str) -> Any:
        """This stack's client for `service` (shared: register no event handlers on it)."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = client(service, endpoint_url=self.endpoint_url, region=self.region)
            return self._clients[service]

    def uploader_client(self, owner: str) -> Any:
        """An S3 client acting as `owner`: a session of the stack's UploaderRole named after them, which is
        what makes them the owner of what it uploads (`pipeline.logic.owners`)."""
        slot = f"s3 as {owner}"
        with self._lock:
            if slot in self._clients:
                return self._clients[slot]
        role = self.outputs.get("UploaderRoleArn")
        if not role:
            message = "The stack has no UploaderRoleArn Output: deploy it again from template.yaml."
            raise UploaderIdentityError(message)
        try:
            issued = self.client("sts").assume_role(RoleArn=role, RoleSessionName=owner)["Credentials"]
        except ClientError as exc:
            raise UploaderIdentityError(
                f"Cannot upload as {owner!r} ({exc.response['Error'].get('Message', exc)}): a user name is "
                "2 to 64 letters, digits or _=,.@-, and your credentials need sts:AssumeRole on UploaderRole."
            ) from exc
        credentials = {
            "aws_access_key_id": issued["AccessKeyId"],
            "aws_secret_access_key": issued["SecretAccessKey"],
            "aws_session_token": issued["SessionToken"],
        }
        made = client("s3", endpoint_url=self.endpoint_url, region=self.region, credentials=credentials)
        with self._lock:
            return self._clients.setdefault(slot, made)


@dataclass
class Outcome:
    """What became of one uploaded file."""

    name: str
    key: str
    version_id: str
    item_id: str
    started: float
    state: str = "pending"  # pending | published | quarantined
    reason: str | None = None
    detail: str | None = None
    version: int | None = None
    latest: bool = False
    thumbnails: list[int] = field(default_factory=list)
    url: str | None = None
    seconds: float | None = None


def upload(
    stack: Stack,
    files: Iterable[tuple[str, bytes]],
    collection: str,
    *,
    metadata: dict[str, str] | None = None,
    owner: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Put each (name, bytes) under uploads/<collection>/<name>, as `owner` when given (else unowned);
    returns one pending Outcome per file."""
    s3 = stack.uploader_client(owner) if owner else stack.client("s3")
    bucket = stack.outputs["IngestBucketName"]
    outcomes = []
    for name, body in files:
        key = f"uploads/{collection}/{name}"
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        started = time.monotonic()
        response = s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {}
        )
        outcomes.append(Outcome(name, key, response.get("VersionId", "null"), item_id(bucket, key), started))
        if progress is not None:
            progress(name)
    return outcomes


def upload_paths(stack: Stack, paths: Iterable[Path], collection: str, **kwargs: Any) -> list[Outcome]:
    """Upload files from disk."""
    return upload(stack, ((p.name, p.read_bytes()) for p in paths), collection, **kwargs)


def check(stack: Stack, outcome: Outcome) -> Outcome:
    """Look once for the file's published documents or quarantine record; updates and returns `outcome`."""
    s3 = stack.client("s3")
    store = ObjectStore(s3)
    public = stack.outputs["PublicBucketName"]
    quarantine = stack.outputs["QuarantineBucketName"]
    error, _ = store.read_json(quarantine, f"quarantine/{outcome.key}/{outcome.version_id}/error.json")
    if error is not None:
        outcome.state, outcome.reason, outcome.detail = "quarantined", error["reason"], error["detail"]
    else:
        document, _ = store.read_json(public, item_key(outcome.item_id))
        version_doc = None
        if document is not None and document["source"]["version_id"] == outcome.version_id:
            version_doc, outcome.latest = document, True
        elif document is not None:
            listing = s3.list_objects_v2(Bucket=public, Prefix=f"items/{outcome.item_id}/versions/")
            for entry in listing.get("Contents", []):
                candidate, _ = store.read_json(public, entry["Key"])
                if candidate is not None and candidate["source"]["version_id"] == outcome.version_id:
                    version_doc = candidate
        # Publish writes the version document before the item document: done once the item caught up.
        recorded = int(document["versions"]) if document is not None else 0
        if version_doc is not None and recorded >= int(version_doc["version"]):
            outcome.state = "published"
            outcome.version = int(version_doc["version"])
            outcome.thumbnails = [t["width"] for t in version_doc["thumbnails"]]
            outcome.url = version_doc["links"]["self"]
    if outcome.state != "pending" and outcome.seconds is None:
        outcome.seconds = time.monotonic() - outcome.started
    return outcome


#: Seconds between looks at pending uploads: the first, and the most while nothing finishes.
MIN_POLL_S = 0.25
MAX_POLL_S = 1.0


def wait(
    stack: Stack,
    outcomes: list[Outcome],
    timeout_s: float = 120.0,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Poll until every file is published or quarantined, or the deadline passes (then some stay pending).

    Each look is two reads per pending file; while none finishes, looks come less often (0.25 s, growing to
    `MAX_POLL_S`), so that a local stack does not spend its time answering the poll of a large batch.
    """
    deadline = time.monotonic() + timeout_s
    pending = list(outcomes)
    interval = MIN_POLL_S
    while pending and time.monotonic() < deadline:
        finished = [outcome for outcome in pending if check(stack, outcome).state != "pending"]
        for outcome in finished:
            pending.remove(outcome)
            if on_done is not None:
                on_done(outcome)
        interval = MIN_POLL_S if finished else min(MAX_POLL_S, interval * 1.5)
        if pending:
            time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    return outcomes
