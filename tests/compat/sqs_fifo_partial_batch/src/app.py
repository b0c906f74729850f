"""Process a FIFO batch in order, as AWS advises for partial batch responses on FIFO queues.

After the first failure the function stops and reports that message and every later one, so nothing is
processed out of order; each processed message's sequence number is appended to its group's list.
"""

import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    failures = []
    for record in event["Records"]:
        if failures:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        body = json.loads(record["body"])
        if body.get("fail_first_time") and record["attributes"]["ApproximateReceiveCount"] == "1":
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        table.update_item(
            Key={"groupId": record["attributes"]["MessageGroupId"]},
            UpdateExpression="SET seqs = list_append(if_not_exists(seqs, :empty), :seq)",
            ExpressionAttributeValues={":empty": [], ":seq": [body["seq"]]},
        )
    return {"batchItemFailures": failures}
