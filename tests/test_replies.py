"""replies.text: a reply as str whatever the client's decode_responses."""

from __future__ import annotations

from redislab.replies import text


def test_text_reads_bytes_and_str_replies_alike(standalone_lab) -> None:
    raw = standalone_lab.primary.client(decode_responses=False)
    decoded = standalone_lab.primary.client()
    try:
        raw.set("redislab:test:text", "café")
        assert (
            text(raw.get("redislab:test:text")) == text(decoded.get("redislab:test:text")) == "café"
        )
        assert text(b"\xff") == "\ufffd" and text(7) == "7"
    finally:
        raw.delete("redislab:test:text")
        raw.close()
        decoded.close()
