"""The project's template: cfn-lint clean, and the shape DESIGN.md asks for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from embedded_aws.template import load_template
from tests.conftest import ROOT, TEMPLATES

TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


LINTED = [TEMPLATE, *sorted(TEMPLATES.glob("*.yaml"))]


@pytest.fixture(scope="module")
def cfn_lint_findings() -> dict[str, list[str]]:
    """cfn-lint over every template in one run (it starts in seconds; once per template cost a minute)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "cfn-lint"),
            "--regions",
            "us-east-1",
            "--format",
            "json",
            "--",
            *map(str, LINTED),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        reported = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"cfn-lint did not report (exit {result.returncode}): {result.stdout}{result.stderr}")
    findings: dict[str, list[str]] = {}
    for finding in reported:
        line = finding["Location"]["Start"]["LineNumber"]
        findings.setdefault(str(Path(finding["Filename"]).resolve()), []).append(
            f"{finding['Rule']['Id']} line {line}: {finding['Message']}"
        )
    return findings


@pytest.mark.parametrize("path", LINTED, ids=lambda p: p.name)
def test_cfn_lint_is_clean(path: Path, cfn_lint_findings: dict[str, list[str]]) -> None:
    # Given a template, When cfn-lint reads it, Then it reports nothing
    assert cfn_lint_findings.get(str(path.resolve()), []) == []


def _dead_letter_queues(template: dict[str, Any]) -> set[str]:
    """Queues that are some queue's redrive target, or that a workflow fills when it gives up."""
    queues = _of_type(template, "AWS::SQS::Queue")
    targets = {
        q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues.values()
        if "RedrivePolicy" in q.get("Properties", {})
    }
    return targets | {name for name in queues if name.endswith("DeadLetterQueue")}


def test_every_work_queue_has_a_dead_letter_queue_with_at_least_five_receives(
    template: dict[str, Any],
) -> None:
    queues = _of_type(template, "AWS::SQS::Queue")
    work_queues = set(queues) - _dead_letter_queues(template)
    assert work_queues, "the template has no work queue"
    for name in work_queues:
        policy = queues[name]["Properties"]["RedrivePolicy"]
        count = policy["maxReceiveCount"]
        if isinstance(count, dict):  # a parameter: its default and minimum must both be ≥ 5
            parameter = template["Parameters"][count["Ref"]]
            assert int(parameter["Default"]) >= 5 and int(parameter["MinValue"]) >= 5, name
        else:
            assert int(count) >= 5, name


def test_every_dead_letter_queue_has_an_alarm_on_its_depth(template: dict[str, Any]) -> None:
    watched = {
        d["Value"]["Fn::GetAtt"][0]
        for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values()
        for d in alarm["Properties"].get("Dimensions", [])
        if d["Name"] == "QueueName"
    }
    dead_letter_queues = _dead_letter_queues(template)
    assert dead_letter_queues and dead_letter_queues <= watched


def test_sqs_fed_functions_have_a_visibility_timeout_of_six_times_their_timeout(
    template: dict[str, Any],
) -> None:
    globals_timeout = template["Globals"]["Function"]["Timeout"]
    checked = 0
    for function in _of_type(template, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "SQS":
                queue = template["Resources"][event["Properties"]["Queue"]["Fn::GetAtt"][0]]
                timeout = function["Properties"].get("Timeout", globals_timeout)
                assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout
                checked += 1
    assert checked


def test_functions_run_on_arm64_and_a_current_python(template: dict[str, Any]) -> None:
    function_globals = template["Globals"]["Function"]
    assert function_globals["Architectures"] == ["arm64"]
    major, minor = function_globals["Runtime"].removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 12)
    for name, function in _of_type(template, "AWS::Serverless::Function").items():
        assert "Runtime" not in function["Properties"] and "Architectures" not in function["Properties"], name
        assert function["Metadata"]["BuildMethod"] == "makefile", name


def test_the_parameters_the_issue_names_exist(template: dict[str, Any]) -> None:
    expected = {
        "ThumbnailWidths",
        "ThumbnailFormat",
        "MaxUploadBytes",
        "MaxPixels",
        "WorkflowType",
        "NoncurrentVersionDays",
    }
    assert expected <= set(template["Parameters"])
    assert template["Parameters"]["WorkflowType"]["Default"] == "EXPRESS"


def test_the_ingest_bucket_is_versioned_and_the_table_protected(template: dict[str, Any]) -> None:
    ingest = template["Resources"]["IngestBucket"]["Properties"]
    assert ingest["VersioningConfiguration"]["Status"] == "Enabled"
    assert ingest["ReplicationConfiguration"]["Rules"][0]["Status"] == "Enabled"
    table = template["Resources"]["MetadataTable"]["Properties"]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["id", "version"]


def test_every_bucket_blocks_public_access_and_is_encrypted(template: dict[str, Any]) -> None:
    for name, bucket in _of_type(template, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()), name
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], name


def test_every_bucket_refuses_requests_without_tls(template: dict[str, Any]) -> None:
    # Given every bucket and every bucket policy (DESIGN.md D13: all buckets TLS-only)
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in _of_type(template, "AWS::S3::BucketPolicy").values()
    }
    # Then each bucket's policy denies every action over plain HTTP, on the bucket and its objects
    for name in _of_type(template, "AWS::S3::Bucket"):
        deny = [
            s
            for s in policies.get(name, [])
            if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert len(deny) == 1 and deny[0]["Action"] == "s3:*" and deny[0]["Principal"] == "*", name
        assert len(deny[0]["Resource"]) == 2, name


def test_the_outputs_tools_rely_on_exist(template: dict[str, Any]) -> None:
    expected = {
        "IngestBucketName",
        "PublicBucketName",
        "QuarantineBucketName",
        "MetadataTableName",
        "UploadEventsTopicArn",
        "ItemEventsTopicArn",
        "FileWorkflowArn",
        "PublicBaseUrl",
    }
    assert expected <= set(template["Outputs"])


def test_the_file_workflow_retries_transient_errors_and_never_retries_permanent_ones() -> None:
    # Given the workflow definition
    definition = json.loads((ROOT / "statemachines" / "file-workflow.asl.json").read_text())
    tasks: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            tasks[name] = state
        for branch in state.get("Branches", []):
            tasks.update({n: s for n, s in branch["States"].items() if s["Type"] == "Task"})
    lambda_tasks = {n: s for n, s in tasks.items() if s["Resource"] == "arn:aws:states:::lambda:invoke"}
    assert len(lambda_tasks) == 7

    for name, state in lambda_tasks.items():
        retriers = state["Retry"]
        # Then PermanentError comes first and is never retried...
        assert retriers[0] == {"ErrorEquals": ["PermanentError"], "MaxAttempts": 0}, name
        # ...transient errors back off with full jitter, capped...
        transient = retriers[1]
        assert "TransientError" in transient["ErrorEquals"]
        assert transient["BackoffRate"] > 1 and transient["JitterStrategy"] == "FULL"
        assert transient["MaxDelaySeconds"]
        assert retriers[2]["ErrorEquals"] == ["Sandbox.Timedout", "States.Timeout"], name
        # ...and payloads are pointers: no state passes file content
        assert "Body" not in json.dumps(state["Parameters"])

    # And every path ends published, quarantined, or in the FailedUploads queue: each top-level task is caught
    for name, state in definition["States"].items():
        if state["Type"] in ("Task", "Parallel") and name != "Failed":
            assert state["Catch"][-1] == {
                "ErrorEquals": ["States.ALL"],
                "ResultPath": "$.error",
                "Next": "Failed",
            }, name
    assert definition["States"]["Failed"]["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert definition["States"]["Validate"]["Catch"][0]["Next"] == "Quarantine"


def test_the_worst_case_file_workflow_fits_an_express_execution(template: dict[str, Any]) -> None:
    # Given each step's function timeout and how often a timeout is retried
    definition = json.loads((ROOT / "statemachines" / "file-workflow.asl.json").read_text())
    substitutions = template["Resources"]["FileWorkflow"]["Properties"]["DefinitionSubstitutions"]
    default_timeout = template["Globals"]["Function"]["Timeout"]

    def worst(state: dict[str, Any]) -> float:
        function = substitutions[state["Parameters"]["FunctionName"].strip("${}")]["Fn::GetAtt"][0]
        timeout = template["Resources"][function]["Properties"].get("Timeout", default_timeout)
        retried = next(r for r in state["Retry"] if "Sandbox.Timedout" in r["ErrorEquals"])["MaxAttempts"]
        return float(timeout * (1 + retried))

    states = definition["States"]
    render = max(worst(b["States"][b["StartAt"]]) for b in states["Render"]["Branches"])
    published = (
        sum(worst(states[n]) for n in ("Validate", "AllocateVersion", "RecordVersion", "Publish")) + render
    )
    quarantined = worst(states["Validate"]) + worst(states["Quarantine"])
    # Then even when every step times out once, the path ends well inside Express's 300 s limit
    assert max(published, quarantined) <= 240, (published, quarantined)


# --- Alerts and the dashboard (issue 11) ------------------------------------------------------------------
def test_every_alarm_notifies_the_alerts_topic_on_alarm_and_on_ok(template: dict[str, Any]) -> None:
    # Given every alarm of the template
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 6
    for name, alarm in alarms.items():
        # Then it tells the Alerts topic when it goes to ALARM and when it comes back to OK
        assert alarm["Properties"].get("AlarmActions") == [{"Ref": "AlertsTopic"}], name
        assert alarm["Properties"].get("OKActions") == [{"Ref": "AlertsTopic"}], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name


def test_the_alerts_topic_mails_the_optional_alert_email_and_admits_cloudwatch(
    template: dict[str, Any],
) -> None:
    # Given the AlertEmail parameter, the Alerts topic, its policy and its subscription
    parameter = template["Parameters"]["AlertEmail"]
    subscription = template["Resources"]["AlertEmailSubscription"]
    statements = template["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # Then the email is optional, and subscribed only when given
    assert parameter["Default"] == ""
    assert template["Conditions"]["HasAlertEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]
    }
    assert subscription["Condition"] == "HasAlertEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlertEmail"}
    # ... CloudWatch may publish to the topic, for alarms of this account only
    cloudwatch = [s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(cloudwatch) == 1 and cloudwatch[0]["Action"] == "sns:Publish"
    assert cloudwatch[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    # ... and tools find the topic
    assert template["Outputs"]["AlertsTopicArn"]["Value"] == {"Ref": "AlertsTopic"}


#: Functions whose errors are refusals (a file or change event judged invalid), not failures: their real
#: failures end their workflow, which the ExecutionsFailed alarms watch.
REFUSING_FUNCTIONS = {
    "ValidateFunction",
    "ThumbnailsFunction",
    "ExtractMetadataFunction",
    "ValidateChangeFunction",
}


def _watched_functions(template: dict[str, Any], metric: str) -> list[str]:
    """Functions whose Lambda `metric` some metric-math alarm sums (each alarm at most AWS's 10 metrics)."""
    watched: list[str] = []
    for name, alarm in _of_type(template, "AWS::CloudWatch::Alarm").items():
        queries = alarm["Properties"].get("Metrics", [])
        stats = [q["MetricStat"]["Metric"] for q in queries if "MetricStat" in q]
        assert len(stats) <= 10, f"{name}: a metric-math alarm may reference at most 10 metrics"
        for stat in stats:
            if (stat["Namespace"], stat["MetricName"]) == ("AWS/Lambda", metric):
                assert [d["Name"] for d in stat["Dimensions"]] == ["FunctionName"], name
                watched.append(stat["Dimensions"][0]["Value"]["Ref"])
    return watched


def test_workflow_failures_and_function_errors_and_throttles_have_alarms(template: dict[str, Any]) -> None:
    # Given the state machines, the functions and the alarms
    alarms = _of_type(template, "AWS::CloudWatch::Alarm").values()
    functions = set(_of_type(template, "AWS::Serverless::Function"))
    workflows = set(_of_type(template, "AWS::Serverless::StateMachine"))
    assert workflows == {"FileWorkflow", "ChangeWorkflow"}
    # Then each workflow's failed and timed-out executions alarm
    for workflow in workflows:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            assert any(
                a["Properties"].get("Namespace") == "AWS/States"
                and a["Properties"].get("MetricName") == metric
                and a["Properties"]["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": workflow}}]
                for a in alarms
            ), f"{workflow} {metric}"
    # ... every function's throttles alarm, and every function's errors but refusals
    throttles, errors = _watched_functions(template, "Throttles"), _watched_functions(template, "Errors")
    assert sorted(throttles) == sorted(functions)
    assert sorted(errors) == sorted(functions - REFUSING_FUNCTIONS)


def _dashboard(template: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body as JSON (each `${...}` replaced by its name) and the names it substitutes."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([^}]+)\}", body))
    return json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body)), names


def test_the_dashboard_body_is_json_showing_rates_refusals_outcomes_queues_durations_and_cold_starts(
    template: dict[str, Any],
) -> None:
    # Given the dashboard's body
    body, names = _dashboard(template)
    widgets = {w["properties"]["title"]: w for w in body["widgets"]}
    # Then it is JSON with a widget for each concern issue 11 names
    for title in ("Files per second", "Refusals by reason", "Workflow outcomes", "Cold starts", "Alarms"):
        assert title in widgets
    assert any(t.startswith("Durations") for t in widgets)
    # ... that substitutes only the template's resources (and their attributes) and pseudo parameters
    for name in names:
        assert name.split(".")[0] in template["Resources"] or name.startswith("AWS::"), name
    # ... that charts the depth of every dead-letter queue
    depths = widgets["Dead-letter and failed-work queue depths"]["properties"]["metrics"]
    charted = {
        m[3].removesuffix(".QueueName") for m in depths if m[1] == "ApproximateNumberOfMessagesVisible"
    }
    assert charted == _dead_letter_queues(template)
    # ... the pipeline's own metrics, with the namespace and service the functions emit them under
    rates = json.dumps(widgets["Files per second"]["properties"]["metrics"])
    assert (
        template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
        == "Pipeline"
    )
    assert '"Pipeline", "FilesValidated", "service", "pipeline"' in rates
    assert "FilesRefused" in json.dumps(widgets["Refusals by reason"]["properties"]["metrics"])
    # ... every workflow outcome, and every alarm of the template
    outcomes = {m[1] for m in widgets["Workflow outcomes"]["properties"]["metrics"]}
    assert outcomes == {"ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"}
    shown = {a.removesuffix(".Arn") for a in widgets["Alarms"]["properties"]["alarms"]}
    # (an alarm under a Condition, such as the upload API's, may not exist: a dashboard cannot name it)
    unconditional = {
        n for n, a in _of_type(template, "AWS::CloudWatch::Alarm").items() if "Condition" not in a
    }
    assert shown == unconditional


def test_every_security_scan_skip_says_why_in_the_resource_it_skips(template: dict[str, Any]) -> None:
    # Given every checkov skip in the template's resources
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]

    # Then each names a check and gives a reason a reviewer can weigh (a sentence, not a word)
    assert skips
    for logical_id, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
        assert len(str(skip.get("comment", "")).split()) >= 8, (logical_id, skip)


def test_data_at_rest_and_in_flight_is_protected_as_the_scan_expects(template: dict[str, Any]) -> None:
    # Given the template's topics, queues, tables, buckets and distribution
    topics = _of_type(template, "AWS::SNS::Topic")
    key = template["Resources"]["TopicsKey"]["Properties"]["KeyPolicy"]["Statement"]
    services = {s for st in key for s in (st.get("Principal", {}).get("Service") or [])}

    # Then topics use the customer managed key, which S3 and CloudWatch (publishers) may use...
    assert all(t["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicsKey"} for t in topics.values())
    assert {"s3.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    # ...every function or workflow that publishes may use the key too
    for logical_id, resource in template["Resources"].items():
        policies = (resource.get("Properties") or {}).get("Policies") or []
        if any(isinstance(p, dict) and "SNSPublishMessagePolicy" in p for p in policies):
            statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
            assert any("kms:GenerateDataKey*" in s.get("Action", []) for s in statements), logical_id
    # ...queues are encrypted, tables recoverable to a point in time, buckets log their access
    assert all(
        q["Properties"].get("SqsManagedSseEnabled") for q in _of_type(template, "AWS::SQS::Queue").values()
    )
    for table in _of_type(template, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    for logical_id, bucket in _of_type(template, "AWS::S3::Bucket").items():
        if logical_id != "AccessLogsBucket":
            logging = bucket["Properties"]["LoggingConfiguration"]
            assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}, logical_id
    # ...and the distribution sends security headers and logs, and asks TLS 1.2 on a domain of our own
    config = template["Resources"]["PublicDistribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert config["Logging"]["Bucket"] == {"Fn::GetAtt": ["AccessLogsBucket", "DomainName"]}
    assert config["ViewerCertificate"]["Fn::If"][1]["MinimumProtocolVersion"] == "TLSv1.2_2021"
