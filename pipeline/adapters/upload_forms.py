"""Presigned POST forms signed as the uploader: a session of the stack's UploaderRole named after the owner.

S3 then names that session in the upload's event (`userIdentity.principalId`), which is how the pipeline knows
the owner (`pipeline.logic.owners`): the form carries the caller's identity, never a field they could edit.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from pipeline.adapters.clients import LazyClient, client
from pipeline.errors import TransientError

#: STS's shortest session: the form expires long before it.
SESSION_SECONDS = 900


class UploadForms:
    """Hands out presigned POST forms. The STS client is injectable (default: one per cold start)."""

    sts = LazyClient("sts")

    def __init__(self, role_arn: str, sts_client: Any | None = None) -> None:
        self.role_arn = role_arn
        self.sts = sts_client

    def presigned_post(
        self,
        owner: str,
        bucket: str,
        key: str,
        fields: dict[str, str],
        conditions: list[Any],
        expires_s: int,
    ) -> dict[str, Any]:
        """A form (`url`, `fields`) that uploads exactly `key` as `owner`, valid for `expires_s` seconds."""
        try:
            credentials = self.sts.assume_role(
                RoleArn=self.role_arn, RoleSessionName=owner, DurationSeconds=SESSION_SECONDS
            )["Credentials"]
        except ClientError as exc:
            raise TransientError(f"STS AssumeRole of the uploader role failed: {exc}") from exc
        s3 = client(
            "s3",
            credentials={
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            },
            # boto3 signs POST forms with SigV2 unless told: S3 takes only SigV4 in newer regions
            signature_version="s3v4",
        )
        form: dict[str, Any] = s3.generate_presigned_post(
            Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_s
        )
        return form
