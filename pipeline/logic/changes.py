"""Change events from upstream systems: the contract, ordering rules and public record documents. Pure."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from pipeline.errors import PermanentError
from pipeline.models import ChangeEvent, StoredChange

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

#: The contract's size limit for one event's JSON text, in UTF-8 bytes.
MAX_EVENT_BYTES = 65536
RECORD_SCHEMA = "pipeline/record/1"
LISTING_SCHEMA = "pipeline/entity/1"


def _rfc3339(value: object) -> bool:
    """The contract's `date-time` format (raises ValueError for a string that is no date at all)."""
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    return parsed.tzinfo is not None  # RFC 3339 requires an offset


@cache
def contract() -> dict[str, Any]:
    """The change-event JSON Schema."""
    text = resources.files("pipeline.contracts").joinpath("change-event.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft202012Validator:
    # jsonschema (and `referencing`) load on the first validation, not at import: of the handlers importing
    # this module only ValidateChange and StartChangeWorkflow validate, and a cold start pays it once.
    from jsonschema import Draft202012Validator, FormatChecker

    formats = FormatChecker(formats=())
    formats.checks("date-time", raises=ValueError)(_rfc3339)
    return Draft202012Validator(contract(), format_checker=formats)


def _path(parts: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def parse_change(raw: str | dict[str, Any]) -> ChangeEvent:
    """Validate an event against its contract; a violation is `schema_violation` naming the path."""
    text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
    size = len(text.encode())
    if size > MAX_EVENT_BYTES:
        raise PermanentError(
            f"at $: the event is {size} bytes; the limit is {MAX_EVENT_BYTES}.", reason="schema_violation"
        )
    try:
        document = json.loads(text) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise PermanentError(f"at $: the event is not JSON ({exc.msg}).", reason="schema_violation") from exc
    errors = list(_validator().iter_errors(document))
    if errors:
        # A `false` subschema (the contract's "delete carries no data") reports no keyword and no path.
        named = [e for e in errors if e.validator is not None]
        from jsonschema.exceptions import best_match

        error = best_match(named) if named else errors[0]
        if error.validator is None:
            raise PermanentError("at $.data: a delete carries no data.", reason="schema_violation")
        raise PermanentError(
            f"at {_path(error.absolute_path)}: {error.message[:300]}", reason="schema_violation"
        )
    return ChangeEvent.model_validate(document)


def labels_of_raw(raw: str) -> tuple[str | None, str | None]:
    """The `owner` and `collection` an event that broke its contract still names, if any: so that who follows
    them hears of the rejection (and nobody else who filters by owner or collection)."""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError:
        return None, None
    if not isinstance(document, dict):
        return None, None

    def label(value: object) -> str | None:
        return value.strip()[:200] if isinstance(value, str) and value.strip() else None

    return label(document.get("owner")), label(document.get("collection"))


def record_key(change: ChangeEvent) -> str:
    """The record's key in the metadata table: its business identity (DESIGN.md D7)."""
    return f"rec#{change.source}#{change.entity}#{change.id}"


def execution_name(change: ChangeEvent | None, raw: str, delivery: str = "") -> str:
    """An execution name from source + entity + id + sequence (or the raw text when it is not valid) and the
    queue delivery: a redelivered message starts nothing new, a replayed one runs again (idempotently)."""
    identity = raw if change is None else f"{change.source}/{change.entity}/{change.id}@{change.sequence}"
    return "change-" + hashlib.sha256(f"{identity}|{delivery}".encode()).hexdigest()[:40]


def record_doc_key(entity: str, record_id: str) -> str:
    return f"records/{entity}/{record_id}.json"


def listing_key(entity: str) -> str:
    return f"records/{entity}.json"


def record_document(stored: StoredChange) -> dict[str, Any]:
    """`records/<entity>/<id>.json`: the stored winner, or a tombstone after a delete.

    A delete leaves a tombstone document rather than no document: a publish of an older upsert that races
    the delete then sees the higher sequence and keeps the tombstone (a removed object would be re-created).
    """
    change = stored.change
    document: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "source": change.source,
        "entity": change.entity,
        "id": change.id,
        "sequence": change.sequence,
        "occurred_at": change.occurred_at,
        "updated_at": stored.recorded_at,
        "deleted": change.op == "delete",
    }
    document.update({"owner": change.owner, "collection": change.collection})
    if change.op == "upsert":
        document["data"] = change.data
    return document


def inherit_labels(change: ChangeEvent, previous: StoredChange | None) -> ChangeEvent:
    """The change with the record's owner and collection where it names none (a delete or a partial update
    usually does not), so that the people who follow the record still hear of it."""
    if previous is None:
        return change
    labels = {
        field: getattr(previous.change, field)
        for field in ("owner", "collection")
        if getattr(change, field) is None and getattr(previous.change, field) is not None
    }
    return change.model_copy(update=labels) if labels else change


def record_title(entity: str, record_id: str, data: dict[str, Any] | None) -> str:
    """A record's name for people: its data's `title` or `name` when it has one, else entity and id."""
    for field in ("title", "name"):
        value = (data or {}).get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return f"{entity} {record_id}"


def newer_document(current: dict[str, Any] | None, candidate: dict[str, Any]) -> dict[str, Any]:
    """Whichever of two record documents has the higher sequence (the current one on a tie)."""
    if current is not None and int(current.get("sequence", -1)) >= int(candidate["sequence"]):
        return current
    return candidate


def merge_entity_listing(
    current: dict[str, Any] | None, entity: str, document: dict[str, Any], url: str
) -> dict[str, Any]:
    """An entity's listing with one record's state applied, the higher sequence winning per id.

    Deleted ids stay in `deleted` with their sequence, so an older upsert merged late cannot bring them back.
    """
    entries = {e["id"]: e for e in (current or {}).get("items", [])}
    deleted: dict[str, int] = dict((current or {}).get("deleted", {}))
    record_id, sequence = document["id"], int(document["sequence"])
    known = max(
        int(entries[record_id]["sequence"]) if record_id in entries else -1, deleted.get(record_id, -1)
    )
    if sequence > known:
        if document["deleted"]:
            entries.pop(record_id, None)
            deleted[record_id] = sequence
        else:
            deleted.pop(record_id, None)
            entries[record_id] = {
                "id": record_id,
                "sequence": sequence,
                "updated_at": document["updated_at"],
                "url": url,
            }
    items = sorted(entries.values(), key=lambda e: e["id"])
    return {
        "schema": LISTING_SCHEMA,
        "entity": entity,
        "count": len(items),
        "items": items,
        "deleted": dict(sorted(deleted.items())),
    }
