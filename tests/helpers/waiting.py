"""Waiting, bounded in time, for state that is only visible by asking."""

from asyncworker.testing.swf import poll_until

__all__ = ["poll_until"]
