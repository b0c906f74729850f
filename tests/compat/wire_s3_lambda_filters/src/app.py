import json
import os

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    for record in event["Records"]:
        s3.put_object(
            Bucket=os.environ["RECORDS_BUCKET"],
            Key=f"records/{record['s3']['object']['sequencer']}.json",
            Body=json.dumps(record).encode(),
        )
