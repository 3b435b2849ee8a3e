"""The worker process side: frames, how handler errors travel, and the heartbeat relay."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

from asyncworker.errors import ActivityCanceled, ActivityFailed
from asyncworker.pipeline.child import HEADER, RELAY_GAP, _Relay, encode, error_message


class Hostile(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_a_frame_is_its_length_then_the_pickle() -> None:
    frame = encode(("beat", 3, "details"))
    (size,) = HEADER.unpack(frame[: HEADER.size])
    assert size == len(frame) - HEADER.size
    assert pickle.loads(frame[HEADER.size :]) == ("beat", 3, "details")
    with pytest.raises(TypeError, match="cannot pickle"):
        encode(("done", 1, threading.Lock()))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ActivityFailed("on purpose", details=None), ("failed", "on purpose", None)),
        (ActivityFailed(7, details=8), ("failed", "7", "8")),  # type: ignore[arg-type]
        (ActivityCanceled("stopped"), ("canceled", "stopped", None)),
    ],
)
def test_handler_errors_travel_as_text(error: BaseException, expected: tuple[Any, ...]) -> None:
    assert error_message(5, error) == ("error", 5, *expected)


def test_any_other_exception_becomes_its_summary_and_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError as exc:
        kind, seq, sort, summary, trace = error_message(2, exc)
    assert (kind, seq, sort, summary) == ("error", 2, "failed", "ValueError: bad")
    assert "Traceback" in trace
    _, _, _, summary, _ = error_message(2, Hostile())
    assert summary == "Hostile: <unprintable Hostile>"
    pickle.dumps(error_message(2, Hostile()))  # only text: always crosses


def test_the_relay_coalesces_a_burst_and_delivers_its_latest_details() -> None:
    sent: list[tuple[Any, ...]] = []
    last = threading.Event()

    class Channel:
        def send(self, message: tuple[Any, ...]) -> None:
            if last.is_set():
                raise OSError("closed")  # ends the relay thread, as a closed channel does
            sent.append(message)
            if message[2] == "beat 9999":
                last.set()

    relay = _Relay(Channel())  # type: ignore[arg-type]
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    for i in range(10_000):
        relay.beat(1, f"beat {i}")
    assert last.wait(10)
    assert sent[-1] == ("beat", 1, "beat 9999")
    assert len(sent) < 1_000  # one per RELAY_GAP at most: 10,000 beats coalesce
    relay.beat(1, "after")  # the channel is closed now: the thread ends
    thread.join(10)
    assert not thread.is_alive()
    assert RELAY_GAP > 0


def test_a_relay_forgets_a_beat_of_an_ended_task() -> None:
    relay = _Relay(None)  # type: ignore[arg-type]
    relay.beat(1, {"not": "text"})  # type: ignore[arg-type]
    assert relay._pending == (1, "{'not': 'text'}")
    relay.forget()
    assert relay._pending is None
