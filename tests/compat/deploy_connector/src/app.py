import os

import boto3

sqs = boto3.client("sqs")
table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def handler(event, context):
    table.put_item(Item={"id": event["id"], "amount": event["amount"]})
    stored = table.get_item(Key={"id": event["id"]})["Item"]
    sqs.send_message(QueueUrl=os.environ["QUEUE_URL"], MessageBody=event["id"])
    return {"stored": stored["id"]}
