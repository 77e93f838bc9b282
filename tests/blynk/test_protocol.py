"""Tests of the Blynk core (blynk_client.protocol re-exports it): codec, ids, state table, both roles back to back."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blynk_client.errors import LocalProtocolError, RemoteProtocolError
from blynk_client.protocol import (
    TRANSITIONS,
    BlynkConnection,
    Command,
    Connection,
    ConnectionClosed,
    DebugPrint,
    DeviceConnection,
    EventLogged,
    EventResolved,
    GroupMarker,
    Hardware,
    HeartbeatTimeout,
    InfoReceived,
    Input,
    Internal,
    LoginFailed,
    LoginRequested,
    LoginSucceeded,
    LoginTimeout,
    Malformed,
    Message,
    MessageDecoder,
    MessageIds,
    PingReceived,
    Pong,
    PropertySet,
    ProtocolViolation,
    Redirected,
    Response,
    Role,
    ServerConnection,
    State,
    Status,
    SyncRequested,
    VirtualWrite,
    VirtualWrites,
    decode_values,
    format_value,
    parse_pin,
)

TOKEN = "Xq3vS9kLmN0pR2tU4wY6zA8cE1gI5jKo"  # 32 characters, like a Blynk 2.0 token


def events(conn: Connection) -> list[object]:
    out = []
    while (ev := conn.next_event()) is not None:
        out.append(ev)
    return out


def flat(evs: list[object]) -> list[object]:
    """The server's batched writes as one VirtualWrite each (what the general path makes)."""
    out: list[object] = []
    for ev in evs:
        if isinstance(ev, VirtualWrites):
            out += [VirtualWrite(pin=pin, values=decode_values(raw), msg_id=mid) for pin, raw, mid in ev.writes]
        else:
            out.append(ev)
    return out


def hdr(command: int, msg_id: int, length: int) -> bytes:
    return struct.pack("!BHH", command, msg_id, length)


# ---------------------------------------------------------------------------------------------
# Codec


GOLDEN = [
    # (message, wire bytes) from blynk-protocol.md section 1 and 3
    (Message(Command.HW_LOGIN, 1, (TOKEN,)), bytes.fromhex("1d00010020") + TOKEN.encode()),
    (Message(Command.RESPONSE, 1, (), 200), bytes.fromhex("00000100c8")),
    (Message(Command.RESPONSE, 7, (), 200), bytes.fromhex("00000700c8")),
    (Message(Command.PING, 3), bytes.fromhex("0600030000")),
    (Message(Command.HARDWARE, 9, ("vw", "1", "42")), bytes.fromhex("1400090007") + b"vw\x001\x0042"),
    (Message(Command.REDIRECT, 1, ("fra1.blynk.cloud", "443")), hdr(41, 1, 20) + b"fra1.blynk.cloud\x00443"),
    (Message(Command.HARDWARE_SYNC, 2), bytes.fromhex("1000020000")),
]


@pytest.mark.parametrize(("message", "wire"), GOLDEN)
def test_golden_encode(message: Message, wire: bytes) -> None:
    assert message.encode() == wire


def decode_all(chunks: list[bytes], max_body: int = 1024) -> tuple[list[Message], bytes]:
    dec = MessageDecoder(max_body=max_body)
    out: list[Message] = []
    for chunk in chunks:
        dec.feed(chunk)
        while (m := dec.next_message()) is not None:
            out.append(m)
    return out, dec.buffered


STREAM = b"".join(w for _, w in GOLDEN)
EXPECTED = [m for m, _ in GOLDEN]


def test_decode_whole() -> None:
    msgs, rest = decode_all([STREAM])
    assert msgs == EXPECTED
    assert rest == b""


def test_decode_byte_by_byte() -> None:
    msgs, rest = decode_all([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert msgs == EXPECTED
    assert rest == b""


def test_decode_with_trailing_bytes() -> None:
    trailing = hdr(20, 5, 10) + b"vw\x00"  # a header and part of the body of the next message
    msgs, rest = decode_all([STREAM + trailing])
    assert msgs == EXPECTED
    assert rest == trailing


def test_incomplete_header_consumes_nothing() -> None:
    dec = MessageDecoder()
    dec.feed(b"\x14\x00")
    assert dec.next_message() is None
    assert dec.buffered == b"\x14\x00"


def test_oversized_length_is_rejected_from_the_header_alone() -> None:
    dec = MessageDecoder(max_body=100)
    dec.feed(hdr(20, 4, 101))  # no body bytes at all: we must not wait for (or allocate) them
    with pytest.raises(RemoteProtocolError) as info:
        dec.next_message()
    assert info.value.status == Status.ILLEGAL_COMMAND
    assert "101" in str(info.value)


def test_length_at_the_limit_is_accepted() -> None:
    msgs, _ = decode_all([hdr(20, 4, 4) + b"vw\x001"], max_body=4)
    assert msgs == [Message(Command.HARDWARE, 4, ("vw", "1"))]


def test_message_id_zero_is_rejected() -> None:
    dec = MessageDecoder()
    dec.feed(hdr(0, 0, 200))
    with pytest.raises(RemoteProtocolError) as info:
        dec.next_message()
    assert info.value.status is None


def test_command_100_is_rejected_command_99_is_a_message() -> None:
    msgs, _ = decode_all([hdr(99, 3, 1) + b"x"])
    assert msgs == [Message(99, 3, ("x",))]
    dec = MessageDecoder()
    dec.feed(hdr(100, 3, 0))
    with pytest.raises(RemoteProtocolError) as info:
        dec.next_message()
    assert info.value.status == Status.ILLEGAL_COMMAND


def test_invalid_utf8_is_replaced_not_raised() -> None:
    msgs, _ = decode_all([hdr(20, 3, 6) + b"vw\x001\x00\xff"])
    assert msgs[0].args == ("vw", "1", "\ufffd")


@pytest.mark.parametrize(
    "message",
    [
        Message(Command.PING, 0),
        Message(Command.PING, 65536),
        Message(256, 1),
        Message(Command.RESPONSE, 1, (), None),
        Message(Command.RESPONSE, 1, (), 70000),
        Message(Command.HARDWARE, 1, ("x" * 65536,)),
    ],
)
def test_encode_refuses_what_the_header_cannot_carry(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        message.encode()


_arg = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    msg_id = draw(st.integers(1, 65535))
    if draw(st.booleans()):
        return Message(Command.RESPONSE, msg_id, (), draw(st.integers(0, 65535)))
    command = draw(st.sampled_from([c for c in Command if c != Command.RESPONSE]))
    args = tuple(draw(st.lists(_arg, max_size=6)))
    if args == ("",):
        args = ()  # the one ambiguous case: a single empty argument is an empty body
    return Message(command, msg_id, args)


@settings(max_examples=60, deadline=None)
@given(st.lists(messages(), min_size=1, max_size=5), st.integers(1, 7))
def test_round_trip_any_chunking(msgs: list[Message], step: int) -> None:
    wire = b"".join(m.encode() for m in msgs)
    decoded, rest = decode_all([wire[i : i + step] for i in range(0, len(wire), step)], max_body=65535)
    assert decoded == msgs
    assert rest == b""


def test_message_ids_never_zero_and_wrap() -> None:
    ids = MessageIds(last=65533)
    assert [ids.next() for _ in range(4)] == [65534, 65535, 1, 2]
    ids.reset()
    assert ids.next() == 1


def test_token_never_in_reprs() -> None:
    for command in (Command.HW_LOGIN, Command.LOGIN):
        text = repr(Message(command, 1, (TOKEN,)))
        assert TOKEN not in text
        assert TOKEN[:4] in text
    assert TOKEN not in repr(LoginRequested(token=TOKEN, legacy=False, msg_id=1))
    conn = BlynkConnection(Role.DEVICE)
    conn.login(TOKEN, 0.0)
    assert TOKEN not in repr(conn)


def test_parse_pin_and_format_value() -> None:
    assert [parse_pin(p) for p in ("V5", "v5", "5", 5, " V255 ")] == [5, 5, 5, 5, 255]
    for bad in ("V256", "x", "", "V-1", True, "٣"):
        with pytest.raises(ValueError):
            parse_pin(bad)  # type: ignore[arg-type]
    assert [format_value(v) for v in (True, False, 3, 1.5, "a")] == ["1", "0", "3", "1.5", "a"]


# ---------------------------------------------------------------------------------------------
# State table


EXPECTED_LEGAL = {
    Role.DEVICE: {
        State.IDLE: {Input.SEND_LOGIN: State.AWAIT_LOGIN, Input.CLOSE: State.CLOSED, Input.VIOLATION: State.CLOSED},
        State.AWAIT_LOGIN: {
            Input.RECV_LOGIN_OK: State.READY,
            **dict.fromkeys(
                (
                    Input.RECV_LOGIN_REFUSED,
                    Input.RECV_REDIRECT,
                    Input.TIMEOUT,
                    Input.PEER_CLOSED,
                    Input.VIOLATION,
                    Input.CLOSE,
                ),
                State.CLOSED,
            ),
        },
        State.READY: dict.fromkeys(
            (Input.RECV_REDIRECT, Input.TIMEOUT, Input.PEER_CLOSED, Input.VIOLATION, Input.CLOSE), State.CLOSED
        ),
    },
    Role.SERVER: {
        State.AWAIT_LOGIN: {
            Input.RECV_LOGIN: State.AUTHORIZING,
            **dict.fromkeys((Input.TIMEOUT, Input.PEER_CLOSED, Input.VIOLATION, Input.CLOSE), State.CLOSED),
        },
        State.AUTHORIZING: {
            Input.ACCEPT: State.READY,
            **dict.fromkeys(
                (Input.REJECT, Input.REDIRECT, Input.TIMEOUT, Input.PEER_CLOSED, Input.VIOLATION, Input.CLOSE),
                State.CLOSED,
            ),
        },
        State.READY: dict.fromkeys((Input.TIMEOUT, Input.PEER_CLOSED, Input.VIOLATION, Input.CLOSE), State.CLOSED),
    },
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("inp", list(Input))
def test_transition_table_cell(role: Role, state: State, inp: Input) -> None:
    expected = EXPECTED_LEGAL[role].get(state, {}).get(inp)
    assert TRANSITIONS.get((role, state, inp)) == expected
    conn = BlynkConnection(role)
    conn._state = state
    if expected is None:
        with pytest.raises(LocalProtocolError):
            conn._move(inp)
        assert conn.state is state  # an illegal move leaves the state alone
    else:
        conn._move(inp)
        assert conn.state is expected


# ---------------------------------------------------------------------------------------------
# Device and server back to back


class Pair:
    """A device core and a server core joined by an in-memory link, with a float clock."""

    def __init__(self, **device_opts: object) -> None:
        self.now = 1000.0
        self.device = BlynkConnection(Role.DEVICE, **device_opts)  # type: ignore[arg-type]
        self.server = BlynkConnection(Role.SERVER)
        self.server.start(self.now)

    def to_server(self) -> list[object]:
        self.server.receive_data(self.device.data_to_send(), self.now)
        return events(self.server)

    def to_device(self) -> list[object]:
        self.device.receive_data(self.server.data_to_send(), self.now)
        return events(self.device)

    def login(self, **login_opts: object) -> None:
        self.device.login(TOKEN, self.now, **login_opts)  # type: ignore[arg-type]
        (req,) = self.to_server()
        assert isinstance(req, LoginRequested)
        assert req.token == TOKEN
        self.server.accept_login(self.now)
        assert self.to_device() == [LoginSucceeded(status=200)]
        (info,) = self.to_server()
        assert isinstance(info, InfoReceived)
        assert self.to_device() == [Response(msg_id=2, status=200)]


def test_login_ok_sends_info_with_id_2() -> None:
    p = Pair(heartbeat=30.0, buffer_in=2048)
    p.device.login(TOKEN, p.now, info={"tmpl": "TMPL1", "fw-type": "TMPL1", "fw": "1.2.3", "build": "x"})
    wire = p.device.data_to_send()
    assert wire == bytes.fromhex("1d00010020") + TOKEN.encode()
    p.server.receive_data(wire, p.now)
    (req,) = events(p.server)
    assert req == LoginRequested(token=TOKEN, legacy=False, msg_id=1)
    assert p.server.state is State.AUTHORIZING
    p.server.accept_login(p.now)
    assert p.server.data_to_send() == bytes.fromhex("00000100c8")
    p.device.receive_data(bytes.fromhex("00000100c8"), p.now)
    assert events(p.device) == [LoginSucceeded(status=200)]
    assert p.device.state is State.READY
    info_wire = p.device.data_to_send()
    assert info_wire[:3] == bytes.fromhex("110002")
    p.server.receive_data(info_wire, p.now)
    (info,) = events(p.server)
    assert isinstance(info, InfoReceived)
    assert [k for k, _ in info.info] == ["ver", "h-beat", "buff-in", "dev", "tmpl", "fw-type", "fw", "build"]
    assert info.as_dict()["h-beat"] == "30"
    assert info.as_dict()["buff-in"] == "2048"
    assert p.server.peer_buffer_in == 2048
    assert p.server.data_to_send() == bytes.fromhex("00000200c8")  # the info is answered with 200


def test_status_4_at_login_counts_as_success_like_cpp() -> None:
    dev = BlynkConnection(Role.DEVICE)
    dev.login(TOKEN, 0.0)
    dev.receive_data(bytes.fromhex("0000010004"), 0.1)
    assert events(dev) == [LoginSucceeded(status=4)]


def test_invalid_token() -> None:
    p = Pair()
    p.device.login(TOKEN, p.now)
    p.to_server()
    p.server.reject_login(now=p.now)
    assert p.server.state is State.CLOSED
    assert p.to_device() == [LoginFailed(status=Status.INVALID_TOKEN)]
    assert p.device.state is State.CLOSED
    with pytest.raises(LocalProtocolError):
        p.device.virtual_write(1, 2, now=p.now)


def test_legacy_login_2() -> None:
    p = Pair()
    p.device.login(TOKEN, p.now, legacy=True)
    assert p.device.data_to_send()[:1] == b"\x02"
    p.device.login  # noqa: B018
    p.server.receive_data(Message(Command.LOGIN, 1, (TOKEN,)).encode(), p.now)
    assert events(p.server) == [LoginRequested(token=TOKEN, legacy=True, msg_id=1)]


def test_redirect() -> None:
    p = Pair()
    p.device.login(TOKEN, p.now)
    p.to_server()
    p.server.redirect("127.0.0.2", 9443, now=p.now)
    assert p.to_device() == [Redirected(host="127.0.0.2", port=9443)]
    assert p.device.state is State.CLOSED and p.server.state is State.CLOSED


def test_redirect_without_port_defaults_to_80_and_bad_port_is_a_violation() -> None:
    dev = BlynkConnection(Role.DEVICE)
    dev.login(TOKEN, 0.0)
    dev.receive_data(Message(Command.REDIRECT, 1, ("host.example",)).encode(), 0.1)
    assert events(dev) == [Redirected(host="host.example", port=80)]
    dev = BlynkConnection(Role.DEVICE)
    dev.login(TOKEN, 0.0)
    dev.receive_data(Message(Command.REDIRECT, 1, ("h", "99999")).encode(), 0.1)
    (ev,) = events(dev)
    assert isinstance(ev, ProtocolViolation)


def test_writes_both_ways_and_sync() -> None:
    p = Pair()
    p.login()
    mid = p.device.virtual_write("V3", 1.5, "on", True, now=p.now)
    assert mid == 3  # login 1, info 2
    assert flat(p.to_server()) == [VirtualWrite(pin=3, values=("1.5", "on", "1"), msg_id=3)]
    p.server.virtual_write(7, "hello", now=p.now)
    assert p.to_device() == [VirtualWrite(pin=7, values=("hello",), msg_id=1)]
    sync_id = p.device.sync("V1", 2, now=p.now)
    assert p.to_server() == [SyncRequested(pins=(1, 2), msg_id=sync_id)]
    p.server.sync_reply(sync_id, 1, "10", now=p.now)
    p.server.sync_reply(sync_id, 2, "20", now=p.now)
    assert p.to_device() == [
        VirtualWrite(pin=1, values=("10",), msg_id=sync_id),
        VirtualWrite(pin=2, values=("20",), msg_id=sync_id),
    ]
    all_id = p.device.sync(now=p.now)
    assert p.to_server() == [SyncRequested(pins=(), msg_id=all_id)]


def test_property_event_group_internal_debug() -> None:
    p = Pair()
    p.login()
    pid = p.device.set_property("V1", "label", "Temp", now=p.now)
    eid = p.device.log_event("overheat", "92 C", now=p.now)
    rid = p.device.resolve_event("overheat", all_events=True, now=p.now)
    r2 = p.device.resolve_event("overheat", now=p.now)
    gb = p.device.group_begin(p.now, timestamp_ms=1700000000000)
    ge = p.device.group_end(p.now)
    iid = p.device.internal("rtc", "sync", now=p.now)
    assert p.to_server() == [
        PropertySet(pin=1, name="label", values=("Temp",), msg_id=pid),
        EventLogged(code="overheat", description="92 C", msg_id=eid),
        EventResolved(code="overheat", all_events=True, msg_id=rid),
        EventResolved(code="overheat", all_events=False, msg_id=r2),
        GroupMarker(action="begin", timestamp_ms=1700000000000, msg_id=gb),
        GroupMarker(action="end", timestamp_ms=None, msg_id=ge),
        Internal(args=("rtc", "sync"), msg_id=iid),
    ]
    p.server.respond(pid, Status.OK, now=p.now)
    p.server.debug_print("hello\0world", now=p.now)
    p.server.internal("rtc", 1700000000, now=p.now)
    evs = p.to_device()
    assert evs[0] == Response(msg_id=pid, status=200)
    assert isinstance(evs[1], DebugPrint) and evs[1].text == "hello\0world"
    assert isinstance(evs[2], Internal) and evs[2].args == ("rtc", "1700000000")


def test_server_answers_malformed_bodies_with_status_and_keeps_going() -> None:
    p = Pair()
    p.login()
    bad = [
        (Message(Command.HARDWARE, 10, ("vw",)), Status.ILLEGAL_COMMAND),
        (Message(Command.HARDWARE, 11, ("vw", "V999", "1")), Status.ILLEGAL_COMMAND),
        (Message(Command.PROPERTY, 12, ("V1", "label")), Status.ILLEGAL_COMMAND_BODY),
        (Message(Command.EVENT_LOG, 13, ()), Status.ILLEGAL_COMMAND_BODY),
        (Message(Command.EVENT_CLEAR, 14, ("c", "some")), Status.ILLEGAL_COMMAND_BODY),
        (Message(Command.HARDWARE_SYNC, 15, ("xx",)), Status.ILLEGAL_COMMAND),
        (Message(Command.GROUP, 16, ("q",)), Status.ILLEGAL_COMMAND),
    ]
    p.server.receive_data(b"".join(m.encode() for m, _ in bad), p.now)
    got = events(p.server)
    assert [(e.msg_id, e.status) for e in got if isinstance(e, Malformed)] == [(m.msg_id, s) for m, s in bad]
    assert len(got) == len(bad)
    assert p.server.data_to_send() == b"".join(Message(Command.RESPONSE, m.msg_id, (), s).encode() for m, s in bad)
    assert p.server.stats.malformed == len(bad)
    assert p.server.state is State.READY


def test_server_legacy_hardware_ops_are_events() -> None:
    p = Pair()
    p.login()
    p.server.receive_data(Message(Command.BRIDGE, 20, ("dw", "13", "1")).encode(), p.now)
    assert events(p.server) == [Hardware(command=Command.BRIDGE, args=("dw", "13", "1"), msg_id=20)]


def test_second_login_gets_already_registered() -> None:
    p = Pair()
    p.login()
    p.server.receive_data(Message(Command.HW_LOGIN, 9, (TOKEN,)).encode(), p.now)
    assert events(p.server) == []
    assert p.server.data_to_send() == Message(Command.RESPONSE, 9, (), Status.ALREADY_REGISTERED).encode()
    assert p.server.state is State.READY


def test_message_before_login_is_not_authenticated_and_closes() -> None:
    srv = BlynkConnection(Role.SERVER)
    srv.receive_data(Message(Command.HARDWARE, 4, ("vw", "1", "2")).encode(), 0.0)
    (ev,) = events(srv)
    assert isinstance(ev, ProtocolViolation) and ev.status == Status.NOT_AUTHENTICATED
    assert srv.data_to_send() == Message(Command.RESPONSE, 4, (), Status.NOT_AUTHENTICATED).encode()
    assert srv.state is State.CLOSED
    srv.receive_data(b"more", 1.0)
    assert srv.stats.ignored_after_close == 4
    assert events(srv) == []


def test_login_without_token_is_refused() -> None:
    srv = BlynkConnection(Role.SERVER)
    srv.receive_data(hdr(29, 1, 0), 0.0)
    (ev,) = events(srv)
    assert isinstance(ev, ProtocolViolation) and ev.status == Status.INVALID_TOKEN
    assert srv.data_to_send() == Message(Command.RESPONSE, 1, (), Status.INVALID_TOKEN).encode()


def test_messages_pipelined_behind_the_login_wait_for_the_decision() -> None:
    srv = BlynkConnection(Role.SERVER)
    wire = Message(Command.HW_LOGIN, 1, (TOKEN,)).encode() + Message(Command.HARDWARE, 2, ("vw", "4", "x")).encode()
    srv.receive_data(wire, 0.0)
    assert events(srv) == [LoginRequested(token=TOKEN, legacy=False, msg_id=1)]
    srv.accept_login(0.0)
    assert events(srv) == [VirtualWrites(writes=((4, b"x", 2),))]


def test_server_push_respects_the_device_buffer() -> None:
    p = Pair(buffer_in=40)
    p.login()
    p.server.virtual_write(1, "x" * 35, now=p.now)  # vw\0 1\0 + 35 = 40 bytes: fits
    with pytest.raises(LocalProtocolError):
        p.server.virtual_write(1, "x" * 36, now=p.now)
    assert p.to_device() == [VirtualWrite(pin=1, values=("x" * 35,), msg_id=1)]


def test_role_checks_and_state_checks() -> None:
    dev = BlynkConnection(Role.DEVICE)
    with pytest.raises(LocalProtocolError):
        dev.virtual_write(1, 1, now=0.0)  # not logged in
    assert not hasattr(dev, "accept_login")  # each role is its own class
    with pytest.raises(LocalProtocolError):
        dev.login("", 0.0)
    srv = BlynkConnection(Role.SERVER)
    assert not hasattr(srv, "login")
    with pytest.raises(LocalProtocolError):
        srv.accept_login(0.0)  # no login requested yet


def test_ping_replies_both_ways_and_rtt() -> None:
    p = Pair()
    p.login()
    p.now += 1.0
    pid = p.server.ping(p.now)
    assert p.to_device() == [PingReceived(msg_id=pid)]
    assert p.device.data_to_send() == Message(Command.RESPONSE, pid, (), 200).encode()
    p.now += 1.0
    did = p.device.ping(p.now)
    assert p.to_server() == [PingReceived(msg_id=did)]
    p.now += 0.25
    assert p.to_device() == [Pong(msg_id=did, status=200, rtt=0.25)]


def test_device_heartbeat_ping_and_timeout_on_a_float_clock() -> None:
    p = Pair(heartbeat=10.0, timeout=2.0)
    p.login()
    last = p.now
    assert p.device.get_timer() == last + 10.0
    p.device.handle_timer(last + 9.999)
    assert p.device.data_to_send() == b""
    p.device.handle_timer(last + 10.0)
    assert p.device.data_to_send()[:1] == bytes([Command.PING])
    # no answer: the next ping is spaced by `timeout`, the liveness limit is h + 3t after the last receive
    assert p.device.get_timer() == last + 12.0
    p.device.handle_timer(last + 12.0)
    assert p.device.data_to_send()[:1] == bytes([Command.PING])
    assert p.device.get_timer() == last + 14.0
    p.device.handle_timer(last + 14.0)
    p.device.handle_timer(last + 15.999)
    assert events(p.device) == []
    assert p.device.get_timer() == last + 16.0
    p.device.handle_timer(last + 16.0)
    assert events(p.device) == [HeartbeatTimeout(idle=16.0)]
    assert p.device.state is State.CLOSED
    assert p.device.get_timer() is None


def test_device_heartbeat_answered_keeps_the_session() -> None:
    p = Pair(heartbeat=10.0, timeout=2.0)
    p.login()
    for _ in range(5):
        p.now = p.device.get_timer()
        p.device.handle_timer(p.now)
        p.to_server()
        p.now += 0.1
        (pong,) = p.to_device()
        assert isinstance(pong, Pong)
        assert p.device.state is State.READY


def test_a_short_heartbeat_is_kept_as_announced_and_the_server_allows_for_it() -> None:
    """h-beat 2 (below the C++ floor of 10 s and below t): the device pings every 2 s, not every t,
    and the server's idle rule for an announced 2 s is ceil(2.3 * 2) = 5 s, so the session lives."""
    p = Pair(heartbeat=2.0, timeout=6.0)
    p.login()
    assert p.server.peer_info["h-beat"] == "2"
    assert p.server.idle_timeout == 5.0
    for _ in range(10):
        deadline = p.device.get_timer()
        assert deadline is not None
        p.now = deadline
        p.server.handle_timer(p.now)
        p.device.handle_timer(p.now)
        p.to_server()
        p.to_device()
    assert p.now == pytest.approx(1000.0 + 2.0 * 10)  # one ping per announced heartbeat
    assert p.server.state is State.READY and p.device.state is State.READY


def test_device_pings_when_only_sending() -> None:
    """Writes alone do not prove the server is alive: ping after h without receiving anything."""
    p = Pair(heartbeat=10.0, timeout=2.0)
    p.login()
    start = p.now
    for i in range(1, 10):
        p.device.virtual_write(1, i, now=start + i)
        p.to_server()
    assert p.device.get_timer() == start + 10.0


def test_device_login_timeout() -> None:
    dev = BlynkConnection(Role.DEVICE, login_timeout=5.0)
    dev.login(TOKEN, 100.0)
    assert dev.get_timer() == 105.0
    dev.handle_timer(104.9)
    assert events(dev) == []
    dev.handle_timer(105.0)
    assert events(dev) == [LoginTimeout()]
    assert dev.state is State.CLOSED


def test_server_login_timeout() -> None:
    srv = BlynkConnection(Role.SERVER, login_timeout=3.0)
    assert srv.get_timer() is None
    srv.start(50.0)
    assert srv.get_timer() == 53.0
    srv.handle_timer(53.0)
    assert events(srv) == [LoginTimeout()]


def test_server_idle_rule_uses_the_device_heartbeat() -> None:
    p = Pair(heartbeat=45.0)
    p.login()
    assert p.server.get_timer() == p.now + math.ceil(2.3 * 45)  # 104 s
    p.server.handle_timer(p.now + 103.9)
    assert events(p.server) == []
    p.server.handle_timer(p.now + 104)
    (ev,) = events(p.server)
    assert isinstance(ev, HeartbeatTimeout)
    assert p.server.state is State.CLOSED


def test_message_ids_wrap_in_a_session() -> None:
    p = Pair()
    p.login()
    p.device._ids.last = 65534  # fast-forward instead of sending 65k messages
    ids = [p.device.virtual_write(1, i, now=p.now) for i in range(3)]
    assert ids == [65535, 1, 2]
    assert [e.msg_id for e in flat(p.to_server())] == [65535, 1, 2]  # type: ignore[attr-defined]


def test_device_oversized_length_is_a_violation() -> None:
    p = Pair(buffer_in=64)
    p.login()
    p.device.receive_data(hdr(20, 5, 65), p.now)
    (ev,) = events(p.device)
    assert isinstance(ev, ProtocolViolation) and "65" in ev.reason
    assert p.device.state is State.CLOSED
    assert p.device.data_to_send() == b""  # a device does not answer with a status


def test_server_oversized_length_answers_illegal_command() -> None:
    p = Pair()
    p.login()
    p.server.receive_data(hdr(20, 77, 9000), p.now)
    (ev,) = events(p.server)
    assert isinstance(ev, ProtocolViolation) and ev.status == Status.ILLEGAL_COMMAND
    assert p.server.data_to_send() == Message(Command.RESPONSE, 77, (), 2).encode()


def test_id_zero_and_command_100_end_the_session() -> None:
    for wire in (hdr(20, 0, 0), hdr(100, 5, 0), hdr(255, 5, 3)):
        p = Pair()
        p.login()
        p.device.receive_data(wire, p.now)
        (ev,) = events(p.device)
        assert isinstance(ev, ProtocolViolation)
        assert p.device.closed


def test_unknown_commands_below_100_are_counted_and_ignored() -> None:
    p = Pair()
    p.login()
    p.device.receive_data(hdr(42, 5, 2) + b"ab" + Message(Command.HARDWARE, 6, ("vw", "1", "x")).encode(), p.now)
    assert events(p.device) == [VirtualWrite(pin=1, values=("x",), msg_id=6)]
    assert p.device.stats.unknown_commands == 1
    p.server.receive_data(hdr(12, 9, 2) + b"hi", p.now)  # legacy TWEET
    assert events(p.server) == []
    assert p.server.stats.unknown_commands == 1


def test_eof_is_connection_closed() -> None:
    srv = BlynkConnection(Role.SERVER)
    srv.receive_data(hdr(29, 1, 32) + b"half a tok", 0.0)
    srv.receive_data(b"", 0.0)
    assert events(srv) == [ConnectionClosed(trailing=15)]  # an unfinished message is reported
    p = Pair()
    p.login()
    p.device.receive_data(b"", p.now)
    assert events(p.device) == [ConnectionClosed()]
    assert p.device.state is State.CLOSED
    p.server.receive_data(b"", p.now)
    assert events(p.server) == [ConnectionClosed()]


def test_data_before_login_on_a_device_is_a_violation() -> None:
    dev = BlynkConnection(Role.DEVICE)
    dev.receive_data(b"\x00\x00\x01\x00\xc8", 0.0)
    (ev,) = events(dev)
    assert isinstance(ev, ProtocolViolation)


def test_stats_count_bytes() -> None:
    p = Pair()
    p.login()
    p.device.virtual_write(1, "abc", now=p.now)
    p.to_server()
    assert p.device.stats.bytes_out == p.server.stats.bytes_in
    assert p.device.stats.messages_out == 3  # login, info, write


_CLOSING = (ProtocolViolation, ConnectionClosed, LoginFailed, Redirected, HeartbeatTimeout, LoginTimeout)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["server-fresh", "server-ready", "device-waiting", "device-ready"]),
    st.lists(st.binary(max_size=40), max_size=8),
    st.booleans(),
)
def test_any_bytes_in_any_state_never_raise(start: str, chunks: list[bytes], valid_prefix: bool) -> None:
    """Peer input never raises out of receive_data: it becomes events, counters or a violation."""
    p = Pair()
    if start.endswith("ready"):
        p.login()
    elif start == "device-waiting":
        p.device.login(TOKEN, p.now)
    conn = p.server if start.startswith("server") else p.device
    if valid_prefix:
        chunks = [Message(Command.HARDWARE, 40, ("vw", "1", "x")).encode(), *chunks]
    seen: list[object] = []
    rejected = False
    for chunk in chunks:
        if not chunk:
            continue
        conn.receive_data(chunk, p.now)
        seen += events(conn)
        conn.data_to_send()
        if conn.state is State.AUTHORIZING:
            conn.reject_login(now=p.now)
            rejected = True
    assert isinstance(conn.state, State)
    closing = [e for e in seen if isinstance(e, _CLOSING)]
    assert len(closing) <= 1  # nothing after the end
    if closing:
        assert seen[-1] is closing[0] and conn.closed
    elif conn.closed:
        assert rejected  # the only way to close without a closing event is our own decision


# ---------------------------------------------------------------------------------------------
# Send and receive fast paths, the server's write store, the server role's own module


def vw(msg_id: int, pin: str, *values: str) -> bytes:
    return Message(Command.HARDWARE, msg_id, ("vw", pin, *values)).encode()


def ready_server() -> BlynkConnection:
    srv = BlynkConnection(Role.SERVER)
    srv.receive_data(Message(Command.HW_LOGIN, 1, (TOKEN,)).encode(), 0.0)
    assert isinstance(srv.next_event(), LoginRequested)
    srv.accept_login(0.0)
    srv.data_to_send()
    return srv


@pytest.mark.parametrize(
    ("values", "wire_values"),
    [
        ((7,), ("7",)),
        ((-12345678901234567890,), ("-12345678901234567890",)),
        ((2.5,), ("2.5",)),
        ((1e20,), ("1e+20",)),
        ((float("nan"),), ("nan",)),
        (("héllo",), ("héllo",)),
        (("",), ("",)),
        ((True,), ("1",)),  # bool is not an int here: the general path formats it as 1/0
        ((1, "a", 2.5), ("1", "a", "2.5")),
    ],
)
def test_send_fast_path_matches_the_general_encoder(values: tuple[object, ...], wire_values: tuple[str, ...]) -> None:
    dev = BlynkConnection(Role.DEVICE)
    dev._state = State.READY
    mid = dev.virtual_write(9, *values, now=0.0)
    assert dev.data_to_send() == vw(mid, "9", *wire_values)
    assert dev.virtual_write_values("V9", values, 0.0) == mid + 1  # a pin as text: the general path
    assert dev.data_to_send() == vw(mid + 1, "9", *wire_values)
    assert dev.stats.messages_out == 2
    assert dev.stats.bytes_out == 2 * len(vw(mid, "9", *wire_values))


def test_send_fast_path_refuses_what_the_general_path_refuses() -> None:
    dev = BlynkConnection(Role.DEVICE)
    with pytest.raises(LocalProtocolError):
        dev.virtual_write(1, 1, now=0.0)  # not logged in
    dev._state = State.READY
    with pytest.raises(LocalProtocolError, match="NUL"):
        dev.virtual_write(1, "a\0b", now=0.0)
    with pytest.raises(LocalProtocolError, match="NUL"):
        dev.virtual_write(1, 1, "a\0b", now=0.0)
    for pin in (256, -1, True, "V256"):
        with pytest.raises(LocalProtocolError):
            dev.virtual_write(pin, 1, now=0.0)  # type: ignore[arg-type]
    dev.peer_buffer_in = 8
    with pytest.raises(LocalProtocolError, match="receive limit"):
        dev.virtual_write(1, "1234", now=0.0)  # vw\01\01234 = 9 bytes
    assert dev.data_to_send() == b""


def test_receive_fast_path_batches_writes_into_one_event() -> None:
    srv = ready_server()
    srv.receive_data(vw(2, "1", "10") + vw(3, "255", "a", "b") + vw(4, "1", "") + vw(5, "0", "x"), 1.0)
    (batch,) = events(srv)
    assert batch == VirtualWrites(writes=((1, b"10", 2), (255, b"a\0b", 3), (1, b"", 4), (0, b"x", 5)))
    assert {pin: decode_values(raw) for pin, raw, _ in batch.writes} == {1: ("",), 255: ("a", "b"), 0: ("x",)}
    assert srv.stats.messages_in == 1 + 4  # the login and the writes


def test_receive_fast_path_keeps_the_order_a_sync_needs() -> None:
    srv = ready_server()
    sync = Message(Command.HARDWARE_SYNC, 3, ("vr", "1")).encode()
    srv.receive_data(vw(2, "1", "before") + sync + vw(4, "1", "after"), 1.0)
    assert events(srv) == [
        VirtualWrites(writes=((1, b"before", 2),)),
        SyncRequested(pins=(1,), msg_id=3),
        VirtualWrites(writes=((1, b"after", 4),)),
    ]


def test_receive_fast_path_hands_the_unusual_to_the_general_path() -> None:
    srv = ready_server()
    wire = vw(2, "007", "a") + vw(3, "V5", "b") + Message(Command.HARDWARE, 4, ("vw", "6")).encode() + vw(5, "256", "c")
    srv.receive_data(wire, 1.0)
    got = events(srv)
    assert got[:3] == [
        VirtualWrites(writes=((7, b"a", 2),)),  # "007" is pin 7 on both paths
        VirtualWrite(pin=5, values=("b",), msg_id=3),
        VirtualWrite(pin=6, values=(), msg_id=4),
    ]
    assert isinstance(got[3], Malformed) and got[3].status == Status.ILLEGAL_COMMAND and got[3].msg_id == 5
    assert srv.data_to_send() == Message(Command.RESPONSE, 5, (), Status.ILLEGAL_COMMAND).encode()  # pin 256
    assert srv.stats.malformed == 1


def test_receive_fast_path_across_chunk_boundaries_and_buffer_types() -> None:
    wire = b"".join(vw(i, str(i % 256), f"v{i}") for i in range(2, 300))
    dev = BlynkConnection(Role.DEVICE)
    dev._state = State.READY
    for i, cut in enumerate(range(0, len(wire), 7)):
        chunk = wire[cut : cut + 7]
        dev.receive_data((bytes, bytearray, memoryview)[i % 3](chunk), 1.0)  # type: ignore[arg-type]
    got = events(dev)
    assert len(got) == 298
    assert got[-1] == VirtualWrite(pin=299 % 256, values=("v299",), msg_id=299)
    assert dev._decoder.buffered == b""


def test_decode_values_replaces_bad_utf8_as_the_general_path_does() -> None:
    assert decode_values(b"\xff\x00ok") == ("\ufffd", "ok")
    srv = ready_server()
    srv.receive_data(hdr(20, 2, 8) + b"vw\x001\x00\xff\x00k", 1.0)
    assert flat(events(srv)) == [VirtualWrite(pin=1, values=("\ufffd", "k"), msg_id=2)]


def test_each_role_is_its_own_class_and_module() -> None:
    assert type(BlynkConnection(Role.SERVER)) is ServerConnection
    assert type(BlynkConnection(Role.DEVICE)) is DeviceConnection
    assert isinstance(BlynkConnection(Role.SERVER, heartbeat=None, buffer_in=100), Connection)
    assert BlynkConnection(Role.SERVER, buffer_in=100).buffer_in == 100
    for name in ("accept_login", "reject_login", "redirect", "sync_reply", "debug_print"):
        assert not hasattr(DeviceConnection(), name)


def test_a_device_never_imports_the_server_role() -> None:
    import subprocess
    import sys

    code = "import sys, blynk_client._device; print(sorted(m for m in sys.modules if 'server' in m or 'protocol' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "[]"


def test_core_modules_import_no_role_back() -> None:
    """The h11 layering: wire < events/state < connection < roles; nothing imports upwards."""
    import ast
    from pathlib import Path

    import blynk_client

    root = Path(blynk_client.__file__).parent
    allowed = {
        "_wire": set(),
        "_events": set(),
        "_state": {"_wire"},
        "_connection": {"_wire", "_events", "_state"},
        "_device": {"_wire", "_events", "_state", "_connection"},
        "_server_role": {"_wire", "_events", "_state", "_connection"},
    }
    for name, may in allowed.items():
        tree = ast.parse((root / f"{name}.py").read_text())
        used = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("blynk_client.")
        }
        assert used - {"errors", "_dataclass"} <= may, name
