"""The metadata table: item versions, the `latest` pointer, and idempotency by business key (D7, D8).

Items in the table (partition key `id`, sort key `version`):
- `id=<item id>, version=0`: the pointer — `allocated` (versions handed out), `versions` (recorded),
  `latest`, `latest_sequencer`, `collection`, `updated_at`; for items the upload API created, also `owner`,
  `key` and `upload_requested_at`.
- `id=<item id>, version=n ≥ 1`: one version — `status` (allocated → recorded), `doc` (VersionRecord JSON).
- `id=src#<source id>, version=0`: which version an uploaded object version was given, so a duplicate event
  gets the same version instead of a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient
from pipeline.errors import TransientError
from pipeline.logic.keys import normalised_sequencer
from pipeline.models import ItemState, StoredChange, VersionRecord

POINTER = 0
#: Text attributes of a pointer that `ItemState` carries as they are.
_POINTER_TEXT = ("updated_at", "owner", "key", "upload_requested_at")


@dataclass(frozen=True)
class Allocation:
    """The version an upload was given, and whether an earlier delivery already had it."""

    version: int
    duplicate: bool


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _cancelled_reasons(exc: ClientError) -> list[str]:
    return [str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])]


class MetadataTable:
    """Versions and pointers of items. The client is injectable; the default is made once per cold start."""

    ddb = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table = table_name
        self.ddb = client

    def _get(self, key_id: str, version: int) -> dict[str, Any] | None:
        try:
            response = self.ddb.get_item(
                TableName=self.table, Key={"id": _s(key_id), "version": _n(version)}, ConsistentRead=True
            )
        except ClientError as exc:
            raise TransientError(f"DynamoDB GetItem failed: {exc}") from exc
        item: dict[str, Any] | None = response.get("Item")
        return item

    def allocate(self, item_id: str, collection: str, source_id: str, attempts: int = 20) -> Allocation:
        """Give an upload the next version number of its item, once: a redelivery gets the same number."""
        source_key = f"src#{source_id}"
        for _ in range(attempts):
            existing = self._get(source_key, POINTER)
            if existing is not None:
                return Allocation(int(existing["assigned"]["N"]), duplicate=True)
            pointer = self._get(item_id, POINTER)
            previous = int(pointer["allocated"]["N"]) if pointer and "allocated" in pointer else 0
            version = previous + 1
            pointer_condition = (
                {
                    "ConditionExpression": "allocated = :previous",
                    "ExpressionAttributeValues": {
                        ":previous": _n(previous),
                        ":v": _n(version),
                        ":c": _s(collection),
                    },
                }
                if previous
                else {
                    "ConditionExpression": "attribute_not_exists(allocated)",
                    "ExpressionAttributeValues": {":v": _n(version), ":c": _s(collection)},
                }
            )
            try:
                self.ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    "id": _s(source_key),
                                    "version": _n(POINTER),
                                    "item_id": _s(item_id),
                                    "assigned": _n(version),
                                },
                                "ConditionExpression": "attribute_not_exists(id)",
                            }
                        },
                        {
                            "Update": {
                                "TableName": self.table,
                                "Key": {"id": _s(item_id), "version": _n(POINTER)},
                                "UpdateExpression": "SET allocated = :v, #c = :c",
                                "ExpressionAttributeNames": {"#c": "collection"},
                                **pointer_condition,
                            }
                        },
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": {
                                    "id": _s(item_id),
                                    "version": _n(version),
                                    "status": _s("allocated"),
                                },
                                "ConditionExpression": "attribute_not_exists(id)",
                            }
                        },
                    ]
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "TransactionCanceledException":
                    continue  # a concurrent allocation or a duplicate won: read again
                raise TransientError(f"DynamoDB TransactWriteItems failed: {exc}") from exc
            return Allocation(version, duplicate=False)
        raise TransientError(
            f"Could not allocate a version of {item_id} in {attempts} attempts; retry later."
        )

    def record(self, record: VersionRecord) -> bool:
        """Store a version's metadata and count it, once; returns False when it was already recorded."""
        try:
            self.ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": {"id": _s(record.item_id), "version": _n(record.version)},
                            "UpdateExpression": "SET #s = :recorded, doc = :doc",
                            "ConditionExpression": "#s = :allocated",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":recorded": _s("recorded"),
                                ":allocated": _s("allocated"),
                                ":doc": _s(record.model_dump_json()),
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": {"id": _s(record.item_id), "version": _n(POINTER)},
                            "UpdateExpression": "ADD versions :one",
                            "ExpressionAttributeValues": {":one": _n(1)},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                if _cancelled_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                    return False
                raise TransientError(
                    f"Recording {record.item_id} v{record.version} conflicted; retry."
                ) from exc
            raise TransientError(f"DynamoDB TransactWriteItems failed: {exc}") from exc
        return True

    def move_latest(self, item_id: str, version: int, sequencer: str | None, updated_at: str) -> bool:
        """Point `latest` at this version only if its upload is newer than the current latest's (D8)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"id": _s(item_id), "version": _n(POINTER)},
                UpdateExpression="SET latest = :v, latest_sequencer = :seq, updated_at = :at",
                ConditionExpression=(
                    "attribute_not_exists(latest) OR latest_sequencer < :seq "
                    "OR (latest_sequencer = :seq AND latest < :v)"
                ),
                ExpressionAttributeValues={
                    ":v": _n(version),
                    ":seq": _s(normalised_sequencer(sequencer)),
                    ":at": _s(updated_at),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise TransientError(f"DynamoDB UpdateItem failed: {exc}") from exc
        return True

    def state(self, item_id: str) -> ItemState | None:
        """The item's pointer, or None for an unknown item."""
        pointer = self._get(item_id, POINTER)
        if pointer is None:
            return None
        text = {name: pointer[name]["S"] for name in _POINTER_TEXT if name in pointer}
        return ItemState(
            item_id=item_id,
            collection=pointer["collection"]["S"],
            latest=int(pointer["latest"]["N"]) if "latest" in pointer else None,
            versions=int(pointer.get("versions", {"N": "0"})["N"]),
            allocated=int(pointer.get("allocated", {"N": "0"})["N"]),
            **text,
        )

    def register(self, item_id: str, collection: str, owner: str, key: str, requested_at: str) -> None:
        """Create an item of the upload API: its owner and object key, before any upload (never twice)."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "id": _s(item_id),
                    "version": _n(POINTER),
                    "collection": _s(collection),
                    "owner": _s(owner),
                    "key": _s(key),
                    "upload_requested_at": _s(requested_at),
                },
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TransientError(f"Item {item_id} already exists; ask again.") from exc
            raise TransientError(f"DynamoDB PutItem failed: {exc}") from exc

    def note_upload_request(self, item_id: str, requested_at: str) -> None:
        """Remember when an upload form for the item was last handed out (for its upload status)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"id": _s(item_id), "version": _n(POINTER)},
                UpdateExpression="SET upload_requested_at = :t",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeValues={":t": _s(requested_at)},
            )
        except ClientError as exc:
            raise TransientError(f"DynamoDB UpdateItem failed: {exc}") from exc

    def version(self, item_id: str, version: int) -> VersionRecord | None:
        """A recorded version, or None when it is not (yet) recorded."""
        item = self._get(item_id, version)
        if item is None or "doc" not in item:
            return None
        return VersionRecord.model_validate(json.loads(item["doc"]["S"]))

    def items(self) -> list[ItemState]:
        """Every item's pointer (a scan: for the CLI, not for handlers)."""
        states = []
        paginator = self.ddb.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table, ConsistentRead=True):
            for entry in page["Items"]:
                if (
                    entry["version"]["N"] == "0"
                    and not entry["id"]["S"].startswith("src#")
                    and "collection" in entry
                ):
                    state = self.state(entry["id"]["S"])
                    if state is not None:
                        states.append(state)
        return states

    def apply_change(self, key: str, stored: StoredChange) -> str:
        """Record a change only if its sequence is higher than the stored one (D8).

        Returns "recorded", "duplicate" (the same sequence is stored) or "stale" (a higher one is). A delete
        is stored like any change: a tombstone that a lower-sequence upsert cannot overwrite.
        """
        change = stored.change
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "id": _s(key),
                    "version": _n(POINTER),
                    "sequence": _n(change.sequence),
                    "op": _s(change.op),
                    "doc": _s(stored.model_dump_json()),
                },
                ConditionExpression="attribute_not_exists(id) OR #seq < :seq",
                ExpressionAttributeNames={"#seq": "sequence"},
                ExpressionAttributeValues={":seq": _n(change.sequence)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise TransientError(f"DynamoDB PutItem failed: {exc}") from exc
            current = self._get(key, POINTER)
            stored_sequence = int(current["sequence"]["N"]) if current else -1
            return "duplicate" if stored_sequence == change.sequence else "stale"
        return "recorded"

    def stored_change(self, key: str) -> StoredChange | None:
        """The winning change of a record, or None."""
        item = self._get(key, POINTER)
        if item is None or "doc" not in item:
            return None
        return StoredChange.model_validate(json.loads(item["doc"]["S"]))
