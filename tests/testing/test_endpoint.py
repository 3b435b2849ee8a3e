"""`endpoint_process()`: the local endpoint as a subprocess, for tests over real HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from asyncworker.testing import endpoint_process

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


async def test_an_endpoint_that_exits_before_listening_says_why(tmp_path: Path) -> None:
    """A flag the endpoint refuses (here a `--db` file it cannot open) is reported with the
    endpoint's own error line; it was a bare `EndOfStream` (the plugin's `swf_endpoint`
    fixture failed with no reason)."""
    missing = tmp_path / "no-such-dir" / "swf.db"
    with pytest.raises(RuntimeError, match="exited with code 2 before it listened") as raised:
        async with endpoint_process("--db", str(missing)):
            pass
    assert "asyncworker local: error:" in str(raised.value)
    assert str(missing) in str(raised.value)
    log = tmp_path / "endpoint.log"
    with pytest.raises(RuntimeError, match="cannot open"):
        async with endpoint_process("--db", str(missing), log=log):
            pass
    assert "cannot open" in log.read_text()
