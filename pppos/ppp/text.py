"""The one place where text from the PPP peer becomes a ``str`` we may show.

Everything a peer can put in a packet and that we print, log, trace or write to a status file goes
through :func:`peer_text`: PAP Authenticate-Ack/Nak messages (RFC 1334 section 2.2.2), CHAP
Success/Failure messages and names (RFC 1994 section 4.2 - 4.4), Terminate-Request/Ack data (RFC 1661
section 5.5) and Code-Reject / Protocol-Reject contents (sections 5.6, 5.7). The result is one line of
printable characters with everything else shown as a Python-style escape (``\\x1b``, ``\\u202e``), so a
hostile peer can neither move the cursor, recolour the terminal, forge a second log line nor reorder
text with bidirectional controls, and it is bounded in length.
"""

from __future__ import annotations

__all__ = ["PEER_TEXT_LIMIT", "peer_text"]

#: At most this many characters of peer text are kept (the rest becomes "...").
PEER_TEXT_LIMIT = 200


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def peer_text(data: bytes | str, *, limit: int = PEER_TEXT_LIMIT, quote: str = "") -> str:
    """Render peer-supplied ``data`` as one safe line.

    Bytes are decoded as UTF-8; invalid sequences, control characters (C0, DEL, C1), format
    characters (bidi overrides, zero-width) and separators other than the space are escaped as
    ``\\xNN``/``\\uNNNN``; the backslash and the characters in ``quote`` (``'"'`` for a quoted
    trace field) get a backslash, so the output is unambiguous. More than ``limit`` characters are
    cut and ``...`` appended.
    """
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes | bytearray) else str(data)
    cut = len(text) > limit
    out: list[str] = []
    for ch in text[:limit]:
        if "\udc80" <= ch <= "\udcff":  # an undecodable octet, kept by surrogateescape
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch == "\\" or ch in quote:
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out) + ("..." if cut else "")
