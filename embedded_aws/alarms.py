"""CloudWatch alarms on SQS queue depth, evaluated locally, with their SNS notifications.

moto stores alarms but never evaluates them. Here a timer thread evaluates, every few seconds, each alarm of
every account and region that watches `AWS/SQS` `ApproximateNumberOfMessagesVisible` of one queue
(dimension `QueueName`): the metric is read from the queue's own `ApproximateNumberOfMessages` attribute,
which is what SQS publishes it from. On a state change the alarm's state is set in moto's CloudWatch (so
`DescribeAlarms` and the alarm history show it) and, when the alarm's actions are enabled, CloudWatch's
notification is published to each SNS topic of `AlarmActions` (→ ALARM) or `OKActions` (→ OK), as
`cloudwatch.amazonaws.com` for the alarm: the topic's policy must allow it, as on AWS. The message is
CloudWatch's JSON (AlarmName, NewStateValue, Trigger, ...) for every protocol but email, which gets
CloudWatch's readable text (MessageStructure json); the subject is `ALARM: "name" in US East (N. Virginia)`.

Approximated, so that a filled queue alarms within seconds rather than minutes:
- one evaluation samples the depth once, and that sample stands for a whole `Period` (the alarm's Period and
  Statistic are not applied: AWS publishes SQS metrics once a minute, a few minutes late);
- `EvaluationPeriods` N and `DatapointsToAlarm` M (default N) count samples: ALARM when at least M of the last
  N samples breach the threshold, OK otherwise;
- moto creates alarms in OK (AWS starts in INSUFFICIENT_DATA and notifies OKActions at the first
  evaluation): an alarm on an empty queue sends nothing when it is created;
- a queue that no longer exists is missing data: `breaching`/`notBreaching` count as such, `missing` and
  `ignore` keep the state.

Alarms on any other metric, metric-math and composite alarms, anomaly-detection operators and non-SNS actions
are not evaluated or performed; each is logged once, not at every evaluation.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
from moto.cloudwatch.models import Alarm, cloudwatch_backends
from moto.sns.exceptions import TopicNotFound
from moto.sns.models import sns_backends
from moto.sqs.exceptions import QueueDoesNotExist
from moto.sqs.models import sqs_backends

from embedded_aws.events import policy_allows

log = logging.getLogger(__name__)

#: Seconds between two evaluations.
DEFAULT_INTERVAL_S = 2.0

NAMESPACE = "AWS/SQS"
METRIC = "ApproximateNumberOfMessagesVisible"

#: ComparisonOperator → (how CloudWatch words it, whether a value breaches the threshold)
_OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": ("greater than", operator.gt),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", operator.ge),
    "LessThanThreshold": ("less than", operator.lt),
    "LessThanOrEqualToThreshold": ("less than or equal to", operator.le),
}
_MAX_SUBJECT = 99  # SNS refuses a subject of 100 characters or more


@functools.cache
def region_title(region: str) -> str:
    """A region's long name as CloudWatch writes it in notifications ("US East (N. Virginia)")."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    for partition in endpoints["partitions"]:
        described = partition["regions"].get(region)
        if described:
            return str(described["description"])
    return region


def _iso(moment: datetime) -> str:
    """CloudWatch's notification timestamps: 2025-03-01T12:00:00.000+0000."""
    # moto's timestamps are naive UTC
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class Sample:
    """One evaluation's datapoint: the queue depth (None when the queue is gone) and whether it breached."""

    time: datetime
    value: float | None
    breaching: bool | None  # None: missing data that keeps the state


def _queue_depth(account: str, region: str, queue_name: str) -> float | None:
    try:
        queue = sqs_backends[account][region].get_queue(queue_name)
    except QueueDoesNotExist:
        return None
    return float(queue.approximate_number_of_messages)


def _dimension(alarm: Alarm, name: str) -> str | None:
    return next((d.value for d in alarm.dimensions if d.name == name), None)


def _unevaluated_reason(alarm: Alarm) -> str | None:
    """Why the embedded AWS does not evaluate this alarm, or None when it does."""
    if alarm.rule:
        return "it is a composite alarm"
    if alarm.metric_data_queries:
        return "it is a metric-math alarm"
    if alarm.namespace != NAMESPACE or alarm.metric_name != METRIC:
        return f"it watches {alarm.namespace} {alarm.metric_name}"
    if _dimension(alarm, "QueueName") is None:
        return "it names no QueueName dimension"
    if alarm.comparison_operator not in _OPERATORS:
        return f"its operator {alarm.comparison_operator} is not evaluated locally"
    return None


class AlarmEvaluator:
    """Evaluates queue-depth alarms every `interval_s` seconds on a thread of its own, until stopped."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: dict[tuple[str, datetime], deque[Sample]] = {}  # (alarm ARN, config time) → samples
        self._reported: set[str] = set()  # what was logged once (unevaluated alarms, unperformed actions)
        self.evaluations = 0  # evaluations finished, actions performed included

    def start(self) -> AlarmEvaluator:
        """Start evaluating; returns self."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="embedded-aws-alarms", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop evaluating; returns once the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluate()
            except Exception:  # reported; the next evaluation runs regardless
                log.exception("Alarm evaluation failed")

    def evaluate(self) -> None:
        """One evaluation of every alarm of every account and region."""
        seen: set[tuple[str, datetime]] = set()
        for account, region, alarm in self._alarms():
            reason = _unevaluated_reason(alarm)
            if reason is not None:
                self._report_once(
                    alarm.alarm_arn, "Alarm %s is not evaluated by the embedded AWS: %s.", alarm.name, reason
                )
                continue
            key = (alarm.alarm_arn, alarm.configuration_updated_timestamp)
            seen.add(key)
            samples = self._samples.setdefault(key, deque(maxlen=max(1, int(alarm.evaluation_periods))))
            samples.append(self._sample(account, region, alarm))
            self._update(account, region, alarm, samples)
        for stale in set(self._samples) - seen:  # deleted or reconfigured alarms
            del self._samples[stale]
        self.evaluations += 1

    @staticmethod
    def _alarms() -> Iterator[tuple[str, str, Alarm]]:
        for account, regions in list(cloudwatch_backends.items()):
            for region, backend in list(regions.items()):
                for alarm in list(backend.alarms.values()):
                    yield account, region, alarm

    @staticmethod
    def _sample(account: str, region: str, alarm: Alarm) -> Sample:
        now = datetime.now(UTC)
        value = _queue_depth(account, region, str(_dimension(alarm, "QueueName")))
        if value is None:
            missing = {"breaching": True, "notBreaching": False}.get(alarm.treat_missing_data or "missing")
            return Sample(now, None, missing)
        _, breaches = _OPERATORS[alarm.comparison_operator]
        return Sample(now, value, breaches(value, float(alarm.threshold)))

    def _update(self, account: str, region: str, alarm: Alarm, samples: deque[Sample]) -> None:
        counted = [s for s in samples if s.breaching is not None]
        if not counted:
            return  # only missing data that keeps the state
        needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods or 1)
        breaching = sum(1 for s in counted if s.breaching)
        new_state = "ALARM" if breaching >= needed else "OK"
        old_state = str(alarm.state_value)
        if new_state == old_state:
            return
        reason, reason_data = _state_reason(alarm, counted, new_state, old_state, needed)
        cloudwatch_backends[account][region].set_alarm_state(alarm.name, reason, reason_data, new_state)
        log.info("Alarm %s: %s → %s (%s)", alarm.name, old_state, new_state, reason)
        if not alarm.actions_enabled:
            return
        actions = alarm.alarm_actions if new_state == "ALARM" else alarm.ok_actions
        for action in actions or []:
            self._perform(action, account, region, alarm, old_state)

    def _perform(self, action: str, account: str, region: str, alarm: Alarm, old_state: str) -> None:
        parts = action.split(":")
        if len(parts) < 6 or parts[2] != "sns":
            self._report_once(
                f"{alarm.alarm_arn} {action}",
                "Alarm %s: action %s is not performed by the embedded AWS (only SNS topics are).",
                alarm.name,
                action,
            )
            return
        topic_account, topic_region = parts[4], parts[3]
        backend = sns_backends[topic_account][topic_region]
        try:
            topic = backend.get_topic(action)
        except TopicNotFound:
            log.warning("Alarm %s could not notify %s: the topic does not exist.", alarm.name, action)
            return
        context = {"aws:SourceAccount": account, "aws:SourceArn": alarm.alarm_arn, "aws:SourceOwner": account}
        if not policy_allows(topic.policy, "sns:Publish", action, context, "cloudwatch.amazonaws.com"):
            log.warning(
                "Alarm %s could not notify %s: the topic's policy does not let cloudwatch.amazonaws.com "
                "publish (add an AWS::SNS::TopicPolicy statement for it).",
                alarm.name,
                action,
            )
            return
        payload = notification(alarm, account, region, old_state)
        message = json.dumps({"default": json.dumps(payload), "email": email_text(payload)})
        backend.publish(
            message,
            arn=action,
            subject=subject(alarm.name, alarm.state_value, region),
            message_structure="json",
        )

    def _report_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._reported:
            self._reported.add(key)
            log.info(message, *args)


def _when(moment: datetime) -> str:
    return moment.strftime("%d/%m/%y %H:%M:%S")


def _state_reason(
    alarm: Alarm, samples: list[Sample], new_state: str, old_state: str, needed: int
) -> tuple[str, str]:
    """CloudWatch's StateReason and StateReasonData for a threshold crossing."""
    words, _ = _OPERATORS[alarm.comparison_operator]
    threshold = float(alarm.threshold)
    recent = list(reversed(samples))  # most recent first, as CloudWatch lists them
    points = ", ".join(f"{s.value if s.value is not None else 'missing'} ({_when(s.time)})" for s in recent)
    breaching = sum(1 for s in samples if s.breaching)
    shown = breaching if new_state == "ALARM" else len(samples) - breaching
    noun = "datapoint" if needed == 1 else "datapoints"
    reason = (
        f"Threshold Crossed: {shown} out of the last {len(samples)} datapoints [{points}] was "
        f"{'' if new_state == 'ALARM' else 'not '}{words} the threshold ({threshold}) "
        f"(minimum {needed} {noun} for {old_state} -> {new_state} transition)."
    )
    data = {
        "version": "1.0",
        "queryDate": _iso(datetime.now(UTC)),
        "startDate": _iso(samples[0].time),
        "statistic": alarm.statistic,
        "period": int(alarm.period),
        "recentDatapoints": [s.value for s in recent if s.value is not None],
        "threshold": threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(s.time), "sampleCount": 1.0, "value": s.value}
            for s in recent
            if s.value is not None
        ],
    }
    return reason, json.dumps(data)


def subject(name: str, state: str, region: str) -> str:
    """CloudWatch's subject, `ALARM: "name" in US East (N. Virginia)`, the name shortened to fit SNS."""
    text = f'{state}: "{name}" in {region_title(region)}'
    if len(text) <= _MAX_SUBJECT:
        return text
    room = len(name) - (len(text) - _MAX_SUBJECT) - 3
    return f'{state}: "{name[: max(room, 1)]}..." in {region_title(region)}'[:_MAX_SUBJECT]


def notification(alarm: Alarm, account: str, region: str, old_state: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS topics on a state change."""
    trigger: dict[str, Any] = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "StatisticType": "ExtendedStatistic" if alarm.extended_statistic else "Statistic",
        "Statistic": (alarm.extended_statistic or alarm.statistic or "").upper(),
        "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": int(alarm.period),
        "EvaluationPeriods": int(alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator,
        "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
    }
    if alarm.datapoints_to_alarm:
        trigger["DatapointsToAlarm"] = int(alarm.datapoints_to_alarm)
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description or None,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": _iso(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _iso(alarm.state_updated_timestamp),
        "Region": region_title(region),
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": trigger,
    }


def email_text(payload: dict[str, Any]) -> str:
    """The readable email CloudWatch sends to email subscribers (other protocols get the JSON)."""
    trigger = payload["Trigger"]
    region = str(payload["AlarmArn"]).split(":")[3]
    changed = datetime.strptime(payload["StateChangeTime"], "%Y-%m-%dT%H:%M:%S.%f%z")
    when = changed.strftime("%A %d %B, %Y %H:%M:%S UTC")
    name = payload["AlarmName"]
    link = (
        f"https://console.aws.amazon.com/cloudwatch/deeplink.js?region={region}"
        f"#alarmsV2:alarm/{urllib.parse.quote(name, safe='')}"
    )
    dimensions = ", ".join(f"{d['name']} = {d['value']}" for d in trigger["Dimensions"])
    return "\n".join(
        [
            f'You are receiving this email because your Amazon CloudWatch Alarm "{name}" in the '
            f"{payload['Region']} region has entered the {payload['NewStateValue']} state, because "
            f'"{payload["NewStateReason"]}" at "{when}".',
            "",
            "View this alarm in the AWS Management Console:",
            link,
            "",
            "Alarm Details:",
            f"- Name:                       {name}",
            f"- Description:                {payload['AlarmDescription'] or ''}",
            f"- State Change:               {payload['OldStateValue']} -> {payload['NewStateValue']}",
            f"- Reason for State Change:    {payload['NewStateReason']}",
            f"- Timestamp:                  {when}",
            f"- AWS Account:                {payload['AWSAccountId']}",
            f"- Alarm Arn:                  {payload['AlarmArn']}",
            "",
            "Threshold:",
            f"- The alarm is in the ALARM state when the metric is {trigger['ComparisonOperator']} "
            f"{trigger['Threshold']} for {trigger['Period']} seconds.",
            "",
            "Monitored Metric:",
            f"- MetricNamespace:                     {trigger['Namespace']}",
            f"- MetricName:                          {trigger['MetricName']}",
            f"- Dimensions:                          [{dimensions}]",
            f"- Period:                              {trigger['Period']} seconds",
            f"- Statistic:                           {trigger['Statistic'].capitalize()}",
            f"- Unit:                                {trigger['Unit'] or 'not specified'}",
            f"- TreatMissingData:                    {trigger['TreatMissingData']}",
            "",
            "State Change Actions:",
            f"- OK: [{', '.join(payload['OKActions'])}]",
            f"- ALARM: [{', '.join(payload['AlarmActions'])}]",
            f"- INSUFFICIENT_DATA: [{', '.join(payload['InsufficientDataActions'])}]",
        ]
    )
