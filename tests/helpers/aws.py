"""Dummy AWS credentials: the local endpoint and moto accept any, botocore signs with them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

from asyncworker.testing.swf import REGION, aws_credentials

__all__ = ["REGION", "aws_credentials", "default_aws_environment", "use_aws_credentials"]


def default_aws_environment() -> None:
    """For the whole session: dummy credentials and a region unless the environment has its
    own, and no profile (it could name real credentials)."""
    for name, value in {**aws_credentials(), "AWS_DEFAULT_REGION": REGION}.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)


def use_aws_credentials(
    monkeypatch: pytest.MonkeyPatch,
    access_key: str,
    secret_key: str | None = None,
    session_token: str | None = None,
) -> None:
    """For one test: sign with `access_key` (and `secret_key`, if given; else the session's),
    with `session_token` or none."""
    for name, value in aws_credentials(access_key, secret_key, session_token).items():
        monkeypatch.setenv(name, value)
    if session_token is None:
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
