"""Record each scheduled run with the payload it received."""

import json
import os
import uuid

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    table.put_item(Item={"id": str(uuid.uuid4()), "job": event.get("job", "?"), "event": json.dumps(event)})
    return {"ok": True}
