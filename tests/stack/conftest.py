"""One embedded AWS for the stack tests; each test deploys its own stack."""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.local.stack import DeployedStack, EmbeddedAws
from tests.conftest import TEMPLATES

_names = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    embedded = EmbeddedAws(free_port(), state_dir=tmp_path_factory.mktemp("embedded-aws"))
    embedded.start()
    yield embedded
    embedded.stop()


Deploy = Callable[..., DeployedStack]


@pytest.fixture
def deploy(aws: EmbeddedAws, request: pytest.FixtureRequest) -> Deploy:
    """Deploy a fixture template (by file name, or a path) as a stack named after the test."""

    def _deploy(template: str | Path, parameters: dict[str, str] | None = None) -> DeployedStack:
        path = template if isinstance(template, Path) else TEMPLATES / template
        name = re.sub(r"[^a-zA-Z0-9-]", "-", f"t{next(_names)}-{request.node.name[:40]}")
        return aws.deploy(path, name, parameters)

    return _deploy
