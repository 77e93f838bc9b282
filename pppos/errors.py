"""The one error root of ``pppos`` and its branches.

Every error a user can cause or meet derives from :class:`PpposError` and carries an
``exit_status`` (an :class:`ExitStatus`) so that the command-line layer turns it into one line and a
distinct exit code (see :func:`pppos.cli.common.run_main`). Line noise from the modem or the PPP peer
is never raised: cores count it in their statistics (RFC 1661 section 5 says "silently discard").
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class ExitStatus(IntEnum):
    """Exit codes shared by every ``pppos-*`` command. Stable: scripts depend on them."""

    SUCCESS = 0
    #: An unexpected internal failure (a bug); the message says what happened.
    ERROR = 1
    #: The command line or a configuration file is wrong.
    USAGE = 2
    #: The serial port cannot be opened or nothing answers AT on it.
    NO_MODEM = 3
    #: SIM problem: PIN needed or wrong, PUK needed, not inserted.
    SIM = 4
    #: Radio or network problem: no signal, registration denied or timed out, attach failed.
    NETWORK = 5
    #: The modem refused to dial or to enter data mode (bad APN, NO CARRIER at dial, ...).
    DIAL = 6
    #: PPP negotiation failed (LCP or IPCP did not open, peer rejected a mandatory option).
    PPP = 7
    #: PPP authentication was refused (PAP or CHAP).
    AUTH = 8
    #: The link was up and was lost (NO CARRIER, echo timeout, peer terminated, modem vanished).
    LINK_LOST = 9
    #: Root or CAP_NET_ADMIN is needed (TUN, routes, resolver).
    PERMISSION = 10
    #: A needed tool is missing (pppd, slirp, gcc, qemu).
    MISSING_TOOL = 11
    #: A TLS or certificate failure (Blynk client).
    TLS = 12
    #: A credential was rejected by a server (Blynk: invalid token).
    BAD_TOKEN = 13
    #: The SIM refused this PIN before (or too few PIN attempts remain): it is not sent again
    #: automatically, so a restart loop can never lock the SIM into needing its PUK.
    PIN_REFUSED = 14
    #: The ``--data-cap`` of this period is used up (without ``--persist``; with it pppos-up holds the
    #: link down until the next period instead of exiting).
    DATA_CAP = 15
    #: Interrupted by the user (SIGINT), as shells report it.
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        """A few words for ``--help`` and the guide."""
        return _MEANINGS[self]


_MEANINGS: dict[ExitStatus, str] = {
    ExitStatus.SUCCESS: "success",
    ExitStatus.ERROR: "internal error (a bug)",
    ExitStatus.USAGE: "usage or configuration error",
    ExitStatus.NO_MODEM: "no modem (port missing, busy or silent)",
    ExitStatus.SIM: "SIM problem (PIN needed or wrong, PUK, not inserted)",
    ExitStatus.NETWORK: "network (no signal, registration denied, attach failed)",
    ExitStatus.DIAL: "dial refused (bad APN, NO CARRIER at dial)",
    ExitStatus.PPP: "PPP negotiation failed",
    ExitStatus.AUTH: "PPP authentication refused",
    ExitStatus.LINK_LOST: "link lost, or nothing running",
    ExitStatus.PERMISSION: "root or CAP_NET_ADMIN needed",
    ExitStatus.MISSING_TOOL: "a needed program or library is missing or too old",
    ExitStatus.TLS: "TLS or certificate failure",
    ExitStatus.BAD_TOKEN: "credential rejected by the server",
    ExitStatus.PIN_REFUSED: "PIN not sent: the SIM refused it before or too few attempts remain",
    ExitStatus.DATA_CAP: "the --data-cap of this month (or day) is used up (without --persist)",
    ExitStatus.INTERRUPTED: "interrupted",
}


def exit_status_help(statuses: tuple[ExitStatus, ...] | None = None) -> str:
    """The ``exit status:`` block of every command's ``--help`` (one status per line)."""
    chosen = statuses if statuses is not None else tuple(ExitStatus)
    return "exit status:\n" + "\n".join(f"  {int(s):>3}  {s.meaning}" for s in chosen)


class PpposError(Exception):
    """Root of every error raised by ``pppos``.

    ``str(error)`` is one line a person can act on; it never contains a secret.
    """

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, *, exit_status: ExitStatus | None = None) -> None:
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class ConfigError(PpposError):
    """The user's command line, configuration file or secrets file is wrong."""

    exit_status = ExitStatus.USAGE


class PermissionProblem(PpposError):
    """An operation needs root or CAP_NET_ADMIN."""

    exit_status = ExitStatus.PERMISSION


class MissingTool(PpposError):
    """A program we need (pppd, slirp, gcc, qemu) is not installed."""

    exit_status = ExitStatus.MISSING_TOOL


class ModemError(PpposError):
    """The modem did not do what the bring-up needed (the verdict is in the message)."""

    exit_status = ExitStatus.NO_MODEM


class AtTimeout(ModemError):
    """An AT command got no final result code before its deadline."""


class AtCommandError(ModemError):
    """An AT command ended in ERROR, ``+CME ERROR: n`` or ``+CMS ERROR: n``."""

    def __init__(self, message: str, *, code: int | None = None, exit_status: ExitStatus | None = None) -> None:
        super().__init__(message, exit_status=exit_status)
        #: The numeric CME/CMS error code, when the modem gave one.
        self.code = code


class NoCarrier(ModemError):
    """The modem said NO CARRIER: the data call ended or could not start."""

    exit_status = ExitStatus.LINK_LOST


class ProtocolError(PpposError):
    """A protocol rule was broken. Never instantiate this class itself; use a child.

    Following h11: :class:`LocalProtocolError` means *we* (the caller) misused an API;
    :class:`RemoteProtocolError` means the peer misbehaved in a way that cannot be silently discarded.
    """

    exit_status = ExitStatus.PPP

    def __new__(cls, *args: object, **kwargs: object) -> ProtocolError:
        if cls is ProtocolError:
            raise TypeError("use LocalProtocolError or RemoteProtocolError")
        return super().__new__(cls)


class LocalProtocolError(ProtocolError):
    """The caller used a sans-I/O core in a way its state does not allow."""

    exit_status = ExitStatus.ERROR


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol in a way that ends the session."""


class LinkError(PpposError):
    """The link (serial port, TUN device, PPP session) failed; the cause is chained with ``from``."""

    exit_status = ExitStatus.LINK_LOST


__all__ = [
    "AtCommandError",
    "AtTimeout",
    "ConfigError",
    "ExitStatus",
    "LinkError",
    "LocalProtocolError",
    "MissingTool",
    "ModemError",
    "NoCarrier",
    "PermissionProblem",
    "PpposError",
    "ProtocolError",
    "RemoteProtocolError",
    "exit_status_help",
]
