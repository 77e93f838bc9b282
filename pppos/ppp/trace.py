"""pppd-style one-line decode of PPP control packets, with secrets hidden.

The format follows pppd's ``debug`` log (``sent [LCP ConfReq id=0x1 <mru 1500> <magic 0x...>]``):
the code names of RFC 1661 section 5, LCP options of RFC 1661 section 6 and RFC 1662 section 7.1,
IPCP options of RFC 1332 section 3 and RFC 1877, IPv6CP's Interface-Identifier (RFC 5072 section 4.1),
PAP (RFC 1334 section 2.2) and CHAP (RFC 1994 section 4).

Secrets never appear: a PAP password prints as ``password=<hidden>`` and a CHAP response value as
``<hidden>``. Only the peer-visible names and messages are shown, quoted and escaped so that a line
stays one line whatever the peer sends.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from pppos.ppp.ipcp import IPCP_OPTIONS
from pppos.ppp.lcp import LCP_OPTIONS
from pppos.ppp.packets import (
    ChapCode,
    Code,
    Ipv6cpOption,
    Option,
    PapCode,
    Protocol,
    decode_options,
    decode_packet,
)
from pppos.ppp.text import peer_text

__all__ = ["describe", "format_option", "format_options", "trace_line"]

#: Short code names as pppd prints them.
CODE_NAMES: dict[int, str] = {
    Code.CONFIGURE_REQUEST: "ConfReq",
    Code.CONFIGURE_ACK: "ConfAck",
    Code.CONFIGURE_NAK: "ConfNak",
    Code.CONFIGURE_REJECT: "ConfRej",
    Code.TERMINATE_REQUEST: "TermReq",
    Code.TERMINATE_ACK: "TermAck",
    Code.CODE_REJECT: "CodeRej",
    Code.PROTOCOL_REJECT: "ProtRej",
    Code.ECHO_REQUEST: "EchoReq",
    Code.ECHO_REPLY: "EchoRep",
    Code.DISCARD_REQUEST: "DiscReq",
}

PAP_NAMES: dict[int, str] = {
    PapCode.AUTHENTICATE_REQUEST: "AuthReq",
    PapCode.AUTHENTICATE_ACK: "AuthAck",
    PapCode.AUTHENTICATE_NAK: "AuthNak",
}

CHAP_NAMES: dict[int, str] = {
    ChapCode.CHALLENGE: "Challenge",
    ChapCode.RESPONSE: "Response",
    ChapCode.SUCCESS: "Success",
    ChapCode.FAILURE: "Failure",
}

PROTOCOL_NAMES: dict[int, str] = {
    Protocol.LCP: "LCP",
    Protocol.IPCP: "IPCP",
    Protocol.IPV6CP: "IPV6CP",
    Protocol.PAP: "PAP",
    Protocol.CHAP: "CHAP",
    Protocol.CCP: "CCP",
    Protocol.IPXCP: "IPXCP",
    Protocol.ECP: "ECP",
    Protocol.LQR: "LQR",
}

_AUTH_NAMES: dict[int, str] = {Protocol.PAP: "pap", Protocol.CHAP: "chap", 0xC227: "eap"}
_CHAP_ALGOS: dict[int, str] = {5: "MD5", 0x80: "MS", 0x81: "MS-v2"}


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _quote(data: bytes) -> str:
    """Quote peer text on one line through :func:`pppos.ppp.text.peer_text` (``"`` escaped too)."""
    return '"' + peer_text(data, quote='"') + '"'


def _raw(opt: Option) -> str:
    return "<" + _hex(opt.encode()) + ">"


def _lcp_option(opt: Option) -> str:
    """An LCP option in its rule's trace format (:data:`pppos.ppp.lcp.LCP_OPTIONS`), else raw."""
    rule = LCP_OPTIONS.get(opt.type)
    if rule is not None and rule.valid(opt.value):
        return rule.show(opt.value)
    return _raw(opt)


def _ipcp_option(opt: Option) -> str:
    """An IPCP option in its rule's trace format (:data:`pppos.ppp.ipcp.IPCP_OPTIONS`), else raw."""
    rule = IPCP_OPTIONS.get(opt.type)
    if rule is not None and rule.valid(opt.value):
        return rule.show(opt.value)
    return _raw(opt)


_LINK_LOCAL_PREFIX = b"\xfe\x80" + bytes(6)


def _ipv6cp_option(opt: Option) -> str:
    if opt.type == Ipv6cpOption.INTERFACE_IDENTIFIER and len(opt.value) == 8:
        address = ipaddress.IPv6Address(_LINK_LOCAL_PREFIX + opt.value)
        return f"<addr {address}>"
    return _raw(opt)


_OPTION_FORMATTERS: dict[int, Callable[[Option], str]] = {
    Protocol.LCP: _lcp_option,
    Protocol.IPCP: _ipcp_option,
    Protocol.IPV6CP: _ipv6cp_option,
}


def format_option(protocol: int, opt: Option) -> str:
    """Render one option of ``protocol`` as pppd does (``<mru 0>``)."""
    return _OPTION_FORMATTERS.get(protocol, _raw)(opt)


def format_options(protocol: int, data: bytes) -> str:
    """Render the option list ``data`` of a Configure-* packet of ``protocol`` (``<mru 1500> <pcomp>``)."""
    options = decode_options(data)
    if options is None:
        return f"<malformed options {_hex(data)}>"
    fmt = _OPTION_FORMATTERS.get(protocol, _raw)
    return " ".join(fmt(opt) for opt in options)


def _describe_cp(name: str, protocol: int, payload: bytes) -> str:
    pkt = decode_packet(payload)
    if pkt is None:
        return f"{name} <malformed {_hex(payload)}>"
    code_name = CODE_NAMES.get(pkt.code, f"code=0x{pkt.code:x}")
    head = f"{name} {code_name} id=0x{pkt.identifier:x}"
    data = pkt.data
    if 1 <= pkt.code <= 4:
        rest = format_options(protocol, data)
    elif pkt.code in (Code.TERMINATE_REQUEST, Code.TERMINATE_ACK):
        rest = _quote(data) if data else ""
    elif pkt.code == Code.CODE_REJECT:
        inner = decode_packet(data)
        rest = f"code=0x{inner.code:x}" if inner is not None else _hex(data)
    elif pkt.code == Code.PROTOCOL_REJECT and protocol == Protocol.LCP and len(data) >= 2:
        rest = f"proto=0x{struct.unpack('!H', data[:2])[0]:04x}"
    elif pkt.code in (Code.ECHO_REQUEST, Code.ECHO_REPLY, Code.DISCARD_REQUEST) and protocol == Protocol.LCP:
        rest = f"magic=0x{struct.unpack('!I', data[:4])[0]:x}" if len(data) >= 4 else _hex(data)
    else:
        rest = _hex(data)
    return f"{head} {rest}" if rest else head


def _describe_pap(payload: bytes) -> str:
    pkt = decode_packet(payload)
    if pkt is None:
        return f"PAP <malformed {len(payload)} bytes>"
    head = f"PAP {PAP_NAMES.get(pkt.code, f'code=0x{pkt.code:x}')} id=0x{pkt.identifier:x}"
    data = pkt.data
    if pkt.code == PapCode.AUTHENTICATE_REQUEST:
        if not data or 1 + data[0] > len(data):
            return f"{head} <malformed>"
        user = data[1 : 1 + data[0]]
        return f"{head} user={_quote(user)} password=<hidden>"
    if pkt.code in (PapCode.AUTHENTICATE_ACK, PapCode.AUTHENTICATE_NAK):
        msg = data[1 : 1 + data[0]] if data else b""
        return f"{head} {_quote(msg)}" if msg else head
    return f"{head} <{len(data)} bytes>"


def _describe_chap(payload: bytes) -> str:
    pkt = decode_packet(payload)
    if pkt is None:
        return f"CHAP <malformed {len(payload)} bytes>"
    head = f"CHAP {CHAP_NAMES.get(pkt.code, f'code=0x{pkt.code:x}')} id=0x{pkt.identifier:x}"
    data = pkt.data
    if pkt.code in (ChapCode.CHALLENGE, ChapCode.RESPONSE):
        if not data or 1 + data[0] > len(data):
            return f"{head} <malformed>"
        value = data[1 : 1 + data[0]]
        name = data[1 + data[0] :]
        shown = _hex(value).replace(" ", "") if pkt.code == ChapCode.CHALLENGE else "hidden"
        return f"{head} <{shown}>, name = {_quote(name)}"
    if pkt.code in (ChapCode.SUCCESS, ChapCode.FAILURE):
        return f"{head} {_quote(data)}" if data else head
    return f"{head} <{len(data)} bytes>"


def describe(protocol: int, payload: bytes) -> str:
    """One-line decode of a PPP packet (``LCP ConfReq id=0x1 <mru 1500>``), secrets hidden."""
    if protocol == Protocol.PAP:
        return _describe_pap(payload)
    if protocol == Protocol.CHAP:
        return _describe_chap(payload)
    name = PROTOCOL_NAMES.get(protocol)
    if name is not None:
        return _describe_cp(name, protocol, payload)
    if protocol == Protocol.IP:
        return f"IP {len(payload)} bytes"
    if protocol == Protocol.IPV6:
        return f"IPV6 {len(payload)} bytes"
    return f"proto=0x{protocol:04x} {len(payload)} bytes"


def trace_line(outbound: bool, protocol: int, payload: bytes) -> str:
    """``sent [...]`` or ``rcvd [...]`` for one control packet, as pppd logs it."""
    return f"{'sent' if outbound else 'rcvd'} [{describe(protocol, payload)}]"
