"""A worker that cannot start leaves nothing open behind it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embedded_aws.runtime import FunctionConfig, Worker


def test_a_worker_that_cannot_start_closes_every_pipe_and_its_log(tmp_path: Path) -> None:
    # Given a function whose code directory does not exist (so no process can start there)
    config = FunctionConfig(
        "f", "arn:aws:lambda:us-east-1:123456789012:function:f", "app.handler", tmp_path / "gone"
    )
    before = len(os.listdir("/proc/self/fd"))

    # When a worker is made for it, a few times
    for _ in range(3):
        with pytest.raises(OSError):
            Worker(config, {"PATH": os.environ.get("PATH", "")}, tmp_path / "f.log")

    # Then the error reaches the caller and no file descriptor is left open
    assert len(os.listdir("/proc/self/fd")) == before
