import json
import os

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    for record in event["Records"]:
        s3.put_object(
            Bucket=os.environ["EVENTS_BUCKET"],
            Key=f"events/{record['Sns']['MessageId']}.json",
            Body=json.dumps({"event": event, "request_id": context.aws_request_id}).encode(),
        )
