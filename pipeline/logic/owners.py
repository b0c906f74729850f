"""Whose upload is it: the uploader's identity, never a field the uploader sets (issue 12).

The rule: an upload belongs to the **role session name** of the identity that put it, read from the S3
event's `userIdentity.principalId`, which S3 writes as `AWS:<role id>:<session name>` for a role session,
when that role is the stack's `UploaderRole` (its unique id, `UPLOADER_ROLE_ID`); sessions of other roles
(CI, functions, single sign-on) own nothing. Who may assume UploaderRole, and so name a session, is the
account's IAM policies' decision: grant `sts:AssumeRole` on it to the front end that authenticates uploaders
(the upload API), or bind the session name to the caller with a trust condition (`sts:RoleSessionName`).
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
_ROLE_SESSION = re.compile(r"^AWS:(?P<role>AROA[A-Z0-9]+):(?P<session>[\w+=,.@-]{2,64})$", re.ASCII)
#: A claim is reported as ignored, never stored whole.
MAX_CLAIM_CHARS = 64


class Ownership(Model):
    """An upload's owner, and a claimed owner that was ignored (None when none was claimed or it matched)."""

    owner: str | None = None
    ignored_claim: str | None = None


def owner_of(principal_id: str | None, uploader_role_id: str) -> str | None:
    """The owner an uploader's principal id stands for, by the rule above (None: nobody)."""
    match = _ROLE_SESSION.match(principal_id or "")
    if match is None or not uploader_role_id or match["role"] != uploader_role_id:
        return None
    return match["session"].lower()


def ownership(principal_id: str | None, claimed: str | None, uploader_role_id: str) -> Ownership:
    """The owner from identity; the claim is reported only when it names someone else."""
    owner = owner_of(principal_id, uploader_role_id)
    claim = (claimed or "").strip().lower()[:MAX_CLAIM_CHARS] or None
    return Ownership(owner=owner, ignored_claim=claim if claim and claim != owner else None)
