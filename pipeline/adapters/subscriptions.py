"""SNS subscriptions of the UserNotifications topic: subscribe with a filter policy, list, unsubscribe."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient
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

    sns = LazyClient("sns")

    def __init__(self, topic_arn: str, client: Any | None = None) -> None:
        self.arn = topic_arn
        self.sns = client

    def _listed(self) -> list[tuple[str, str, str]]:
        """(arn, protocol, endpoint) of every subscription, as ListSubscriptionsByTopic gives them."""
        try:
            pages = self.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.arn)
            return [
                (entry["SubscriptionArn"], entry["Protocol"], entry["Endpoint"])
                for page in pages
                for entry in page["Subscriptions"]
            ]
        except ClientError as exc:
            raise TransientError(f"SNS ListSubscriptionsByTopic failed: {exc}") from exc

    def _matching(self, protocol: str, endpoint: str) -> list[str]:
        """The ARNs (or PENDING) of this endpoint's subscriptions, without reading anyone's attributes."""
        return [arn for arn, p, e in self._listed() if (p, e) == (protocol, endpoint)]

    def all(self) -> list[Subscription]:
        """Every subscription, with its filter policy (none for one still waiting for confirmation)."""
        found = []
        for arn, protocol, endpoint in self._listed():
            policy = None
            if arn != PENDING:
                try:
                    attributes = self.sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                except ClientError as exc:
                    raise TransientError(f"SNS GetSubscriptionAttributes failed: {exc}") from exc
                policy = json.loads(attributes["FilterPolicy"]) if "FilterPolicy" in attributes else None
            found.append(Subscription(arn, protocol, endpoint, policy))
        return found

    def subscribe(
        self, protocol: str, endpoint: str, policy: dict[str, list[str]]
    ) -> tuple[Subscription, bool]:
        """Subscribe the endpoint with this filter policy; an existing subscription gets the new policy.

        Returns the subscription and whether it existed (its filters were replaced)."""
        try:
            for arn in self._matching(protocol, endpoint):
                if arn == PENDING:
                    raise PermanentError(
                        f"{endpoint} has a subscription waiting for confirmation: confirm it from the email "
                        "AWS sent, then run this again to change its filters.",
                        reason="invalid_subscription",
                    )
                self.sns.set_subscription_attributes(
                    SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy)
                )
                return Subscription(arn, protocol, endpoint, policy), True
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

    def unsubscribe(self, protocol: str, endpoint: str) -> list[str]:
        """Remove the endpoint's confirmed subscriptions; returns their ARNs (none: there was none).

        One still waiting for confirmation cannot be removed (AWS deletes it after 3 days): that is refused.
        """
        matching = self._matching(protocol, endpoint)
        confirmed = [arn for arn in matching if arn != PENDING]
        if matching and not confirmed:
            raise PermanentError(
                f"{endpoint} has only a subscription waiting for confirmation: AWS allows no unsubscribe "
                "before it is confirmed and deletes it by itself after 3 days.",
                reason="invalid_subscription",
            )
        for arn in confirmed:
            try:
                self.sns.unsubscribe(SubscriptionArn=arn)
            except ClientError as exc:
                raise TransientError(f"SNS Unsubscribe failed: {exc}") from exc
        return confirmed
