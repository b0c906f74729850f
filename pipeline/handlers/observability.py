"""One Logger and Metrics for every handler (service name and namespace from the environment).

Tracing is Lambda's own (`Tracing: Active` in template.yaml), with no X-Ray SDK in the functions: Lambda
records each invocation's segment (Initialization on a cold start, Invocation, Overhead, errors), and botocore
passes the invocation's `_X_AMZN_TRACE_ID` on as the `X-Amzn-Trace-Id` header of every AWS call, so Step
Functions, SNS and SQS continue the same trace. What the SDK would add (a subsegment per AWS call) cost
~230 ms of every cold start: importing `aws_xray_sdk` and patching a dozen libraries.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="Pipeline")
