"""The one error root of ``blynk_client``.

``str(error)`` is one line a person can act on and never contains the auth token (at most its first
four characters and an ellipsis, see :func:`blynk_client.errors.redact_token`).
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    """Exit codes of ``blynk-client`` and ``blynk-server``."""

    SUCCESS = 0
    ERROR = 1
    USAGE = 2
    CONNECT = 3  #: cannot connect (DNS, refused, timeout)
    TLS = 4  #: TLS handshake or certificate verification failed
    BAD_TOKEN = 5  #: the server rejected the auth token
    PROTOCOL = 6  #: the server broke the protocol or the session was lost
    INTERRUPTED = 130


class BlynkError(Exception):
    """Root of every error raised by ``blynk_client``."""

    exit_status: ExitStatus = ExitStatus.ERROR


class UsageError(BlynkError):
    """A wrong command line, token file or option value."""

    exit_status = ExitStatus.USAGE


class ConnectError(BlynkError):
    """The TCP connection could not be made or was lost before login."""

    exit_status = ExitStatus.CONNECT


class TlsError(ConnectError):
    """The TLS handshake or certificate verification failed."""

    exit_status = ExitStatus.TLS


class InvalidTokenError(BlynkError):
    """The server answered the login with INVALID_TOKEN (status 9): retrying will not help."""

    exit_status = ExitStatus.BAD_TOKEN


class ProtocolError(BlynkError):
    """A protocol rule was broken. Use a child: Local (our API misuse) or Remote (the peer)."""

    exit_status = ExitStatus.PROTOCOL


class LocalProtocolError(ProtocolError):
    """The caller used the sans-I/O core in a way its state does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that ends the session (for example an oversized length)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        #: The Blynk status code to answer with before closing, when one fits.
        self.status = status


def redact_token(token: str | None) -> str:
    """Return a token safe to log: its first four characters and an ellipsis (``abcd…``).

    A token too short to keep most of it hidden (under 12 characters) shows no characters at all. A
    token comes from a peer as often as from us, so a shown character that is not printable ASCII
    (a terminal escape, a newline) is shown as ``?``.
    """
    if not token:
        return "<none>"
    if len(token) < 12:
        return "\u2026"
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in token[:4]) + "\u2026"
