"""The Blynk core survives fuzzing in both roles (issue 13): a bounded CI budget of the engine that
``bench/fuzz_blynk.py`` runs with 1,000,000 inputs."""

from __future__ import annotations

from blynk_client import protocol as p
from tests.blynk.core_fuzz import run

#: Inputs per CI run (a few seconds); the benchmark runs 1,000,000.
BUDGET = 20_000


def test_fuzzed_sessions_never_raise_out_of_the_core() -> None:
    result = run(BUDGET, seed=13)
    assert result.inputs == BUDGET
    assert result.failed == 0, f"{dict(result.failures)}: {result.examples}"
    # the fuzzer reaches deep enough to be worth its time: logged-in sessions of both roles
    for name in ("VirtualWrite", "InfoReceived", "GroupMarker", "SyncRequested", "Malformed", "Redirected"):
        assert result.events[name] > 0, name


def test_each_known_crash_of_issue_13_is_a_status_or_a_violation() -> None:
    """The inputs that raised before the split, one by one."""

    def ready_server() -> p.ServerConnection:
        srv = p.ServerConnection()
        srv.receive_data(p.Message(p.Command.HW_LOGIN, 1, ("T" * 32,)).encode(), 0.0)
        srv.next_event()
        srv.accept_login(0.0)
        srv.data_to_send()
        return srv

    srv = ready_server()
    srv.receive_data(p.Message(p.Command.GROUP, 5, ("t", "9" * 4301)).encode(), 1.0)
    event = srv.next_event()
    assert isinstance(event, p.Malformed) and event.status == p.Status.ILLEGAL_COMMAND
    assert srv.data_to_send() == p.Message(p.Command.RESPONSE, 5, (), 2).encode()

    bad_numbers = (("h-beat", "1e308"), ("h-beat", "nan"), ("h-beat", "inf"), ("buff-in", "0.5"), ("buff-in", "9" * 99))
    for info in bad_numbers:
        srv = ready_server()
        srv.receive_data(p.Message(p.Command.INTERNAL, 2, ("ver", "1", *info)).encode(), 1.0)
        bad, got = srv.next_event(), srv.next_event()
        assert isinstance(bad, p.Malformed) and isinstance(got, p.InfoReceived)
        assert srv.peer_buffer_in == 250 and srv.idle_timeout == 23.0  # the defaults stand
        assert srv.get_timer() == 1.0 + 23.0
        srv.handle_timer(24.0)  # the timer still works (no overflow)
        assert isinstance(srv.next_event(), p.HeartbeatTimeout)

    srv = ready_server()  # an event then a violation in the same segment
    srv.receive_data(p.Message(p.Command.PING, 3).encode() + b"\x14\x00\x00\x00\x00", 1.0)
    assert isinstance(srv.next_event(), p.PingReceived)
    assert isinstance(srv.next_event(), p.ProtocolViolation)
    assert srv.closed

    for pin in ("V\u0665", "\u0665", "9" * 5000):
        srv = ready_server()
        srv.receive_data(p.Message(p.Command.HARDWARE, 4, ("vw", pin, "1")).encode(), 1.0)
        event = srv.next_event()
        assert isinstance(event, p.Malformed) and event.status == p.Status.ILLEGAL_COMMAND
