"""Reads a document (a version of it, when asked), reads or writes a profile, or says who it runs as."""

import os

import boto3

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
sts = boto3.client("sts")


def handler(event, context):
    action = event["action"]
    if action == "publish":
        boto3.client("sns").publish(TopicArn=os.environ["SEALED_TOPIC"], Message="sealed")
        return {"published": True}
    if action == "whoami":
        return {"arn": sts.get_caller_identity()["Arn"]}
    if action == "read":
        params = {"Bucket": os.environ["DOCUMENTS_BUCKET"], "Key": event["key"]}
        if event.get("version"):
            params["VersionId"] = event["version"]
        return {"body": s3.get_object(**params)["Body"].read().decode()}
    table = os.environ["PROFILES_TABLE"]
    if action == "get-profile":
        item = dynamodb.get_item(TableName=table, Key={"id": {"S": event["id"]}}).get("Item")
        return {"found": item is not None}
    dynamodb.put_item(TableName=table, Item={"id": {"S": event["id"]}})
    return {"written": True}
