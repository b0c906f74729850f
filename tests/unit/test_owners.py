"""The owner rule (pipeline.logic.owners): identity decides, claims are reported when ignored."""

from __future__ import annotations

import pytest

from pipeline.logic.owners import Ownership, owner_of, ownership

UPLOADER = "AROAJ2EXAMPLE7Q"  # the UploaderRole's unique id


@pytest.mark.parametrize(
    ("principal_id", "owner"),
    [
        ("AWS:AROAJ2EXAMPLE7Q:ada", "ada"),
        ("AWS:AROAJ2EXAMPLE7Q:Ada.Lovelace@example.com", "ada.lovelace@example.com"),
        ("AWS:AROAOTHERROLE99:ada", None),  # a session of another role (CI, a function, SSO)
        ("AWS:AIDAJDPLRKLG7UEXAMPLE", None),  # an IAM user: not an uploader session
        ("AWS:123456789012", None),  # the account's root
        ("AWS:AROAJ2EXAMPLE7Q:a", None),  # shorter than STS allows
        ("AROAJ2EXAMPLE7Q:ada", None),  # not as S3 writes it
        ("AWS:AROAJ2EXAMPLE7Q:ada:x", None),
        (None, None),
    ],
)
def test_the_owner_is_the_role_session_name_of_the_uploader(
    principal_id: str | None, owner: str | None
) -> None:
    # Given an S3 event's principal id, When the rule reads it, Then it names the owner or nobody
    assert owner_of(principal_id, UPLOADER) == owner


def test_a_claim_is_reported_only_when_it_names_someone_else() -> None:
    # Given eve uploading with no claim, her own name, and ada's
    eve = "AWS:AROAJ2EXAMPLE7Q:eve"

    # When ownership is decided, Then the identity wins and only the false claim is reported
    assert ownership(eve, None, UPLOADER) == Ownership(owner="eve")
    assert ownership(eve, " EVE ", UPLOADER) == Ownership(owner="eve")
    assert ownership(eve, "ada", UPLOADER) == Ownership(owner="eve", ignored_claim="ada")
    assert ownership("AWS:AIDAJDPLRKLG7UEXAMPLE", "ada", UPLOADER) == Ownership(
        owner=None, ignored_claim="ada"
    )
    # ...and a claim is never kept whole
    assert ownership(eve, "x" * 500, UPLOADER).ignored_claim == "x" * 64
