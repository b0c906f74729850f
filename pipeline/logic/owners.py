"""Whose upload is it: the uploader's identity, never a field the uploader sets (issue 12).

The rule: an upload belongs to the **role session name** of the identity that put it, read from the S3
event's `userIdentity.principalId`, which S3 writes as `AWS:<role id>:<session name>` for a role session.
Uploaders act as the stack's `UploaderRole`, assumed with their user name as `RoleSessionName` (STS
admits `[A-Za-z0-9_=,.@-]`, 2 to 64 characters); the owner is that name in lower case. Any other identity
(an IAM user, the account's root, a service) owns nothing: its uploads are `unowned`. An `owner` the
uploader claims in S3 user metadata is never believed; when it differs from the identity's, it is reported
as ignored.
"""

from __future__ import annotations

import re

from pipeline.models import Model

#: `AWS:AROA…:<session>`: a role session, as S3 events name one.
_ROLE_SESSION = re.compile(r"^AWS:AROA[A-Z0-9]+:(?P<session>[\w+=,.@-]{2,64})$")


class Ownership(Model):
    """An upload's owner, and a claimed owner that was ignored (None when none was claimed or it matched)."""

    owner: str | None = None
    ignored_claim: str | None = None


def owner_of(principal_id: str | None) -> str | None:
    """The owner an uploader's principal id stands for, by the rule above (None: nobody)."""
    match = _ROLE_SESSION.match(principal_id or "")
    return match["session"].lower() if match else None


def ownership(principal_id: str | None, claimed: str | None) -> Ownership:
    """The owner from identity; the claim is reported only when it names someone else."""
    owner = owner_of(principal_id)
    claim = (claimed or "").strip().lower() or None
    return Ownership(owner=owner, ignored_claim=claim if claim and claim != owner else None)
