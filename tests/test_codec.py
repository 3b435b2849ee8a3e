from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncworker.codec import JSON, MAX_REASON, RAW, fit, fits, utf16_length
from asyncworker.errors import CodecError


@given(st.text(), st.integers(min_value=2, max_value=300))
def test_fit_always_yields_valid_text_within_the_limit(text: str, limit: int) -> None:
    out = fit(text, limit)
    assert utf16_length(out) <= limit
    out.encode("utf-8")
    if fits(text, limit) and text.encode("utf-8", "surrogatepass") == text.encode(
        "utf-8", "backslashreplace"
    ):
        assert out == text


def test_fit_counts_like_java() -> None:
    assert utf16_length("😀") == 2
    cut = fit("😀" * 200, MAX_REASON)
    assert cut.endswith("…")
    assert utf16_length(cut) <= MAX_REASON


def test_raw_and_json_codecs() -> None:
    assert RAW.decode(None) == ""
    assert RAW.encode("x") == "x"
    assert RAW.encode(None) is None
    with pytest.raises(CodecError):
        RAW.encode(b"bytes")
    assert JSON.decode('{"a": [1]}') == {"a": [1]}
    assert JSON.decode(None) is None
    assert JSON.encode({"é": 1}) == '{"é":1}'
    with pytest.raises(CodecError):
        JSON.decode("{")
    with pytest.raises(CodecError):
        JSON.encode(object())
