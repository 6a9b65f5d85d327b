"""AWS for tests that run code calling boto3: test credentials, no profile, and moto behind
every call, so that nothing reaches AWS."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto import mock_aws


@contextmanager
def offline_aws(
    monkeypatch: pytest.MonkeyPatch, region: str = "us-east-1", **variables: str
) -> Iterator[None]:
    """Inside: AWS in `region` is moto's, and `variables` (a function's settings) are set."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with mock_aws():  # even a call nothing stubs stays inside moto, never reaching AWS
        yield
