"""Fixtures of the pipeline's tests: a fresh in-memory SWF per test."""

from __future__ import annotations

import pytest

from asyncworker.testing import FakeSwf


@pytest.fixture
def fake() -> FakeSwf:
    return FakeSwf()
