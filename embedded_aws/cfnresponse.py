"""`cfnresponse`, as AWS provides it to Python functions whose code is inline (`ZipFile`, SAM `InlineCode`).

The embedded AWS copies this file beside such a function's `index.py` (never into other functions, as on
AWS), so `import cfnresponse` works as it does there. Written from AWS's documentation of the module, not
copied from it: `send(event, context, responseStatus, responseData, physicalResourceId=None, noEcho=False,
reason=None)` PUTs the JSON response to the request's `ResponseURL` (a presigned S3 URL on AWS; the embedded
AWS's own URL here) with an empty Content-Type, prints the body and the status code, and never raises: a
failed PUT is printed. Only the standard library and urllib3 (which Lambda's Python runtimes carry).
"""

from __future__ import annotations

import json
from typing import Any

SUCCESS = "SUCCESS"
FAILED = "FAILED"


def send(
    event: dict[str, Any],
    context: Any,
    responseStatus: str,  # noqa: N803 - the module's documented interface
    responseData: dict[str, Any] | None,  # noqa: N803
    physicalResourceId: str | None = None,  # noqa: N803
    noEcho: bool = False,  # noqa: N803
    reason: str | None = None,
) -> None:
    """Send the custom resource's response to CloudFormation."""
    response_url = event["ResponseURL"]
    stream = getattr(context, "log_stream_name", None)
    body = json.dumps(
        {
            "Status": responseStatus,
            "Reason": reason or f"See the details in CloudWatch Log Stream: {stream}",
            "PhysicalResourceId": physicalResourceId or stream,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": noEcho,
            "Data": responseData,
        }
    )
    print("Response body:")
    print(body)
    headers = {"content-type": "", "content-length": str(len(body))}
    try:
        status = _put(response_url, body, headers)
        print(f"Status code: {status}")
    except Exception as exc:  # noqa: BLE001 - the module's contract: report, never raise
        print("send(..) failed executing http.request(..):", exc)


def _put(url: str, body: str, headers: dict[str, str]) -> int:
    try:
        import urllib3
    except ImportError:  # an interpreter without botocore's dependencies: the standard library does the same
        import urllib.request

        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    return int(urllib3.PoolManager().request("PUT", url, headers=headers, body=body).status)
