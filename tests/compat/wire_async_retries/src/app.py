import os
import uuid

import boto3

s3 = boto3.client("s3")


class OrderRejected(Exception):
    pass


def handler(event, context):
    s3.put_object(
        Bucket=os.environ["ATTEMPTS_BUCKET"],
        Key=f"{context.function_name}/{event['id']}/{uuid.uuid4()}",
        Body=b"1",
    )
    raise OrderRejected(f"order {event['id']} is rejected")
