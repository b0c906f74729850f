"""A worker that reports back to Step Functions through its task token."""

import json

import boto3

sfn = boto3.client("stepfunctions")


def handler(event, context):
    job = event["job"]
    # Its task has no HeartbeatSeconds; a worker may still say it is alive
    sfn.send_task_heartbeat(taskToken=event["token"])
    if job.get("fail"):
        sfn.send_task_failure(taskToken=event["token"], error="JobFailed", cause=f"job {job['id']} failed")
    else:
        sfn.send_task_success(taskToken=event["token"], output=json.dumps({"job": job["id"], "done": True}))
    return {"reported": True}
