"""Seed a bucket with one JSON object; remove it on Delete. Responds to CloudFormation as crhelper does."""

import json
import logging
import os
import urllib.request

import boto3

logger = logging.getLogger()
logger.setLevel(logging.INFO)
s3 = boto3.client("s3")


def _respond(event, status, reason="", physical_id=None, data=None):
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason,
            "PhysicalResourceId": physical_id or event.get("PhysicalResourceId") or "none",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"content-type": "", "content-length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        logger.info("CloudFormation returned status code: %s", response.status)


def handler(event, context):
    logger.info("event %s", json.dumps(event))
    bucket = os.environ["BUCKET"]
    props = event["ResourceProperties"]
    try:
        if event["RequestType"] == "Delete":
            key = event["PhysicalResourceId"].split("/", 1)[1]
            s3.delete_object(Bucket=bucket, Key=key)
            _respond(event, "SUCCESS")
            return
        key = props["Key"]
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"title": props["Title"]}).encode())
        _respond(event, "SUCCESS", physical_id=f"{bucket}/{key}", data={"Key": key})
    except Exception as exc:
        logger.exception("failed")
        _respond(event, "FAILED", reason=str(exc))
