"""Process work items; while the downstream is down (a flag in the table), every batch fails."""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


class DownstreamUnavailable(Exception):
    pass


def handler(event, context):
    if table.get_item(Key={"id": "config"}).get("Item", {}).get("downstream_down"):
        raise DownstreamUnavailable("downstream is down")
    for record in event["Records"]:
        table.put_item(Item={"id": record["messageId"], "body": record["body"]})
