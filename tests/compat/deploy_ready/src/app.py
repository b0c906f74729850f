import os
from urllib.parse import unquote_plus

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    # One object per record: the test counts deliveries by counting objects.
    for record in event["Records"]:
        if record.get("EventSource") == "aws:sns":
            name = f"sns/{record['Sns']['Message']}"
        else:
            name = f"s3/{unquote_plus(record['s3']['object']['key'])}"
        s3.put_object(Bucket=os.environ["RESULTS_BUCKET"], Key=f"{name}/{context.aws_request_id}", Body=b"1")
