"""Powertools idempotency records in DynamoDB: one per business key, so a redelivered event does nothing."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from pipeline.adapters.clients import default_client


def persistence_layer(table_name: str, client: Any | None = None) -> DynamoDBPersistenceLayer:
    """The idempotency table (partition key `id`, TTL on `expiration`). The client is injectable."""
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client or default_client("dynamodb"))
