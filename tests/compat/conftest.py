"""The compatibility corpus: small SAM templates written the way public pattern collections write them.

Each folder holds one `template.yaml` (and its handlers under `src/`); its test deploys it on the session's
embedded AWS, drives it with boto3 and asserts what AWS documents.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from embedded_aws.stack import DeployedStack
from tests.conftest import Deploy

COMPAT = Path(__file__).resolve().parent

DeployCompat = Callable[..., DeployedStack]


@pytest.fixture
def deploy_compat(deploy: Deploy) -> DeployCompat:
    """Deploy `tests/compat/<name>/template.yaml` as a stack named after the test."""

    def _deploy(name: str, parameters: dict[str, str] | None = None) -> DeployedStack:
        return deploy(COMPAT / name / "template.yaml", parameters)

    return _deploy


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if COMPAT in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.compat)
