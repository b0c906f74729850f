"""SNS subscriptions of the UserNotifications topic: subscribe with a filter policy, list, unsubscribe."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import default_client
from pipeline.errors import PermanentError, TransientError

PENDING = "PendingConfirmation"


@dataclass(frozen=True)
class Subscription:
    """One subscriber: protocol, endpoint and filter policy; `pending` until an email address confirms."""

    arn: str
    protocol: str
    endpoint: str
    filter_policy: dict[str, Any] | None

    @property
    def pending(self) -> bool:
        return self.arn == PENDING


class Subscriptions:
    """The subscribers of one topic. The client is injectable; the default is made once per process."""

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.arn = topic_arn
        self.sns = client or default_client("sns")

    def all(self) -> list[Subscription]:
        """Every subscription, with its filter policy (none for one still waiting for confirmation)."""
        found = []
        try:
            pages = self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.arn)
            for page in pages:
                for entry in page["Subscriptions"]:
                    policy = None
                    if entry["SubscriptionArn"] != PENDING:
                        attributes = self.sns.get_subscription_attributes(
                            SubscriptionArn=entry["SubscriptionArn"]
                        )["Attributes"]
                        policy = (
                            json.loads(attributes["FilterPolicy"]) if "FilterPolicy" in attributes else None
                        )
                    found.append(
                        Subscription(entry["SubscriptionArn"], entry["Protocol"], entry["Endpoint"], policy)
                    )
        except ClientError as exc:
            raise TransientError(f"SNS ListSubscriptionsByTopic failed: {exc}") from exc
        return found

    def subscribe(
        self, protocol: str, endpoint: str, policy: dict[str, list[str]]
    ) -> tuple[Subscription, bool]:
        """Subscribe the endpoint with this filter policy; an existing subscription gets the new policy.

        Returns the subscription and whether it existed (its filters were replaced)."""
        existing = [s for s in self.all() if s.protocol == protocol and s.endpoint == endpoint]
        try:
            for current in existing:
                if current.pending:
                    raise PermanentError(
                        f"{endpoint} has a subscription waiting for confirmation: confirm it from the email "
                        "AWS sent, then run this again to change its filters.",
                        reason="invalid_subscription",
                    )
                self.sns.set_subscription_attributes(
                    SubscriptionArn=current.arn,
                    AttributeName="FilterPolicy",
                    AttributeValue=json.dumps(policy),
                )
                return Subscription(current.arn, protocol, endpoint, policy), True
            response = self.sns.subscribe(
                TopicArn=self.arn,
                Protocol=protocol,
                Endpoint=endpoint,
                Attributes={"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"},
                ReturnSubscriptionArn=True,
            )
        except ClientError as exc:
            raise TransientError(f"SNS Subscribe failed: {exc}") from exc
        return Subscription(str(response["SubscriptionArn"]), protocol, endpoint, policy), False

    def unsubscribe(self, protocol: str, endpoint: str) -> list[Subscription]:
        """Remove the endpoint's confirmed subscriptions; returns what was removed."""
        removed = []
        for current in self.all():
            if current.protocol == protocol and current.endpoint == endpoint and not current.pending:
                try:
                    self.sns.unsubscribe(SubscriptionArn=current.arn)
                except ClientError as exc:
                    raise TransientError(f"SNS Unsubscribe failed: {exc}") from exc
                removed.append(current)
        return removed
