"""The client's pure policies: reconnect backoff, offline queue, pin names and typed values."""

from __future__ import annotations

import random

import pytest

from blynk_client.offline import (
    Backoff,
    BackoffPolicy,
    DropReason,
    OfflineMode,
    OfflineQueue,
    QueuedOp,
    Values,
)
from blynk_client.protocol import parse_pin


class TestBackoff:
    def test_base_grows_exponentially_and_caps(self) -> None:
        policy = BackoffPolicy(initial=1.0, factor=2.0, maximum=30.0, jitter=0.0)
        assert [policy.base(n) for n in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]

    def test_huge_attempt_does_not_overflow(self) -> None:
        policy = BackoffPolicy(initial=1.0, factor=10.0, maximum=60.0)
        assert policy.base(10_000) == 60.0

    def test_jitter_stays_within_band(self) -> None:
        policy = BackoffPolicy(initial=2.0, factor=2.0, maximum=60.0, jitter=0.5)
        rng = random.Random(7)
        for attempt in range(12):
            base = policy.base(attempt)
            for _ in range(50):
                delay = policy.delay(attempt, rng)
                assert base * 0.5 <= delay <= base

    def test_seeded_sequence_is_reproducible_and_jittered(self) -> None:
        first = Backoff(BackoffPolicy(initial=1.0, maximum=60.0, jitter=0.5), random.Random(42))
        second = Backoff(BackoffPolicy(initial=1.0, maximum=60.0, jitter=0.5), random.Random(42))
        a = [first.next_delay() for _ in range(8)]
        b = [second.next_delay() for _ in range(8)]
        assert a == b
        # jitter really moves the delays off the exact powers of two
        assert any(abs(x - 2.0**n) > 1e-9 for n, x in enumerate(a))
        # and the sequence still grows until the cap
        assert a[5] > a[0]

    def test_different_seeds_spread_clients(self) -> None:
        delays = {round(Backoff(rng=random.Random(seed)).next_delay(), 6) for seed in range(20)}
        assert len(delays) > 10

    def test_reset_after_success(self) -> None:
        backoff = Backoff(BackoffPolicy(initial=1.0, jitter=0.0), random.Random(1))
        assert [backoff.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
        assert backoff.attempts == 3
        backoff.reset()
        assert backoff.next_delay() == 1.0

    @pytest.mark.parametrize(
        "kwargs",
        [{"initial": -1.0}, {"initial": 5.0, "maximum": 1.0}, {"factor": 0.5}, {"jitter": 1.5}],
    )
    def test_bad_policy_rejected(self, kwargs: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            BackoffPolicy(**kwargs)


def vw(pin: int, value: str) -> QueuedOp:
    return QueuedOp(kind="virtual_write", args=(str(pin), value), key=("vw", pin))


class TestOfflineQueue:
    def test_latest_per_pin_in_last_update_order(self) -> None:
        drops: list[tuple[QueuedOp, DropReason]] = []
        queue = OfflineQueue(on_drop=lambda item, why: drops.append((item, why)))
        queue.put(vw(1, "a"))
        queue.put(vw(2, "b"))
        queue.put(vw(1, "c"))
        assert [op.args for op in queue.drain()] == [("2", "b"), ("1", "c")]
        assert queue.superseded == 1
        assert queue.dropped == 0
        assert drops == [(vw(1, "a"), DropReason.SUPERSEDED)]
        assert len(queue) == 0

    def test_unkeyed_items_are_never_coalesced(self) -> None:
        queue = OfflineQueue()
        event = QueuedOp(kind="log_event", args=("door",))
        queue.put(event)
        queue.put(event)
        assert len(queue.drain()) == 2

    def test_bound_drops_oldest_and_reports(self) -> None:
        drops: list[tuple[QueuedOp, DropReason]] = []
        queue = OfflineQueue(max_items=3, on_drop=lambda item, why: drops.append((item, why)))
        for pin in range(5):
            queue.put(vw(pin, str(pin)))
        assert [op.args[0] for op in queue.drain()] == ["2", "3", "4"]
        assert queue.dropped == 2
        assert [(d[0].args[0], d[1]) for d in drops] == [("0", DropReason.OVERFLOW), ("1", DropReason.OVERFLOW)]

    def test_keep_all_mode(self) -> None:
        queue = OfflineQueue(mode=OfflineMode.ALL, max_items=4)
        for value in "abcdef":
            queue.put(vw(1, value))
        assert [op.args[1] for op in queue.drain()] == ["c", "d", "e", "f"]
        assert queue.dropped == 2
        assert queue.superseded == 0

    def test_every_put_is_accounted_for(self) -> None:
        rng = random.Random(3)
        queue = OfflineQueue(max_items=5)
        total = 0
        for _ in range(200):
            queue.put(vw(rng.randrange(8), "x"))
            total += 1
        assert len(queue.drain()) + queue.dropped + queue.superseded == total

    def test_bad_bound(self) -> None:
        with pytest.raises(ValueError):
            OfflineQueue(max_items=0)


class TestPins:
    @pytest.mark.parametrize(("given", "number"), [("V0", 0), ("v17", 17), ("255", 255), (3, 3), (" V4 ", 4)])
    def test_parse(self, given: str | int, number: int) -> None:
        assert parse_pin(given) == number

    def test_one_parser(self) -> None:
        """The offline queue had its own copy that read Arabic-Indic digits as a pin number."""
        from blynk_client import _wire, offline, protocol

        assert offline.parse_pin is _wire.parse_pin is protocol.parse_pin
        with pytest.raises(ValueError, match="pin"):
            parse_pin("V\u0665")

    @pytest.mark.parametrize("given", ["V256", "-1", "D3", "V", "", "V1.5", 300, True, "V\u0665", "\u0661\u0662"])
    def test_reject(self, given: str | int) -> None:
        with pytest.raises(ValueError, match="pin"):
            parse_pin(given)


class TestValues:
    def test_typed_access(self) -> None:
        values = Values(3, ["42", "2.5", "hello"])
        assert values.int() == 42
        assert values.float(1) == 2.5
        assert values.str(2) == "hello"
        assert values[0] == "42"
        assert list(values) == ["42", "2.5", "hello"]
        assert len(values) == 3
        assert values == ["42", "2.5", "hello"]
        assert values.pin == 3

    def test_int_accepts_integral_float_text(self) -> None:
        assert Values(1, ["3.0"]).int() == 3

    @pytest.mark.parametrize(("items", "call", "message"), [
        (["abc"], lambda v: v.int(), "not a number"),
        (["1.5"], lambda v: v.int(), "not an integer"),
        (["x"], lambda v: v.float(), "not a number"),
        ([], lambda v: v.str(), "no value at index 0"),
    ])
    def test_errors_are_one_line(self, items: list[str], call, message: str) -> None:
        with pytest.raises(ValueError, match=message) as info:
            call(Values(9, items))
        assert "\n" not in str(info.value)
        assert "V9" in str(info.value)


class TestCoalescer:
    def test_first_operation_opens_the_window_and_the_deadline_closes_it(self) -> None:
        from blynk_client._session import Coalescer

        c = Coalescer(0.05, 100)
        assert c.hold(10.0, 14) and c.flush_at == pytest.approx(10.05)
        assert c.hold(10.01, 28)  # inside the window
        assert not c.hold(10.06, 42)  # past it: send now
        c.sent()
        assert c.flush_at is None

    def test_a_full_segment_and_a_zero_window_never_wait(self) -> None:
        from blynk_client._session import Coalescer

        assert not Coalescer(0.05, 100).hold(0.0, 100)
        c = Coalescer(0.05, 100)
        assert c.hold(0.0, 50) and not c.hold(0.01, 120)
        assert not Coalescer(0.0, 100).hold(0.0, 1)


class TestInFlight:
    """Cell by cell: which answers confirm which operations (``blynk_client._session.InFlight``)."""

    def test_an_answer_to_a_cut_id_confirms_what_was_sent_up_to_that_request_only(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        f.current[1] = ("a",)
        f.cut(7)  # a request with id 7 (PING, property, event) leaves after V1=a
        f.current[2] = ("b",)
        assert f.confirm(7)
        assert f.take() == [(2, ("b",))]

    def test_an_answer_confirms_every_older_generation_and_keeps_the_newer_ones(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        for msg_id, key in ((3, 1), (4, 2), (5, 3)):
            f.current[key] = (str(msg_id),)
            f.cut(msg_id)
        f.current[9] = ("tail",)
        assert f.confirm(4)  # the answer to 3 never came (not every request is answered)
        assert len(f) == 2
        assert f.take() == [(3, ("5",)), (9, ("tail",))]

    def test_ids_never_cut_confirm_nothing(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        f.current[1] = ("a",)
        f.current[2] = ("x",)
        f.cut(3)
        f.current[1] = ("b",)
        # a RESPONSE to a write (the server's 2 or 1 to a vw id) or to nothing we sent
        assert not f.confirm(2) and not f.confirm(4) and not f.confirm(99)
        assert len(f) == 3
        assert f.take() == [(2, ("x",)), (1, ("b",))]
        assert len(f) == 0

    def test_answers_out_of_order_a_late_older_id_confirms_nothing_more(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        f.current[1] = ("a",)
        f.cut(10)
        f.current[2] = ("b",)
        f.cut(11)
        f.current[3] = ("c",)
        assert f.confirm(11)  # the newer answer first: both generations are proven
        assert not f.confirm(10)  # the late older one: already gone, nothing else changes
        assert not f.confirm(11)  # a duplicate
        assert f.take() == [(3, ("c",))]

    def test_a_cut_with_nothing_sent_before_it_is_harmless(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        f.cut(1)
        f.current[5] = ("v",)
        f.cut(2)
        assert f.confirm(1) and len(f) == 1
        assert f.confirm(2) and len(f) == 0

    def test_generations_are_bounded_by_merging_never_by_dropping(self) -> None:
        from blynk_client._session import MAX_GENERATIONS, InFlight

        f = InFlight()
        for i in range(MAX_GENERATIONS * 3):
            f.current[i % 300] = (str(i),)
            f.cut(i + 1)
        assert len(f._generations) == MAX_GENERATIONS
        # every key survived: nothing was dropped to keep the bound
        assert sorted(k for k, _ in f.take()) == list(range(MAX_GENERATIONS * 3))

    def test_a_merged_generation_waits_for_the_newer_id(self) -> None:
        from blynk_client._session import MAX_GENERATIONS, InFlight

        f = InFlight()
        for i in range(MAX_GENERATIONS + 1):  # one too many: ids 1 and 2 merge under 2
            f.current[i] = (str(i),)
            f.cut(i + 1)
        assert [cut for cut, _ in f._generations][:2] == [2, 3]
        assert not f.confirm(1)  # proves only the older half: the merged generation stays
        assert len(f) == MAX_GENERATIONS + 1
        assert f.confirm(2)
        assert len(f) == MAX_GENERATIONS - 1
        assert f.confirm(MAX_GENERATIONS + 1) and len(f) == 0

    def test_take_keeps_the_latest_value_per_key_oldest_first(self) -> None:
        from blynk_client._session import InFlight

        f = InFlight()
        f.current[1] = ("a",)
        f.current[2] = ("x",)
        f.cut(3)
        f.current[1] = ("b",)
        f.cut(4)
        f.current[3] = ("c",)
        assert f.take() == [(2, ("x",)), (1, ("b",)), (3, ("c",))]
        assert f.take() == [] and len(f) == 0


class TestTimers:
    def test_intervals_keep_their_phase_and_timeouts_run_once(self) -> None:
        from blynk_client.timers import Timer, Timers

        timers = Timers()
        every = timers.add(Timer(1.0, 1.0, lambda: None))
        once = timers.add(Timer(1.5, None, lambda: None))
        assert timers.next_deadline() == 1.0
        assert timers.due(0.9) == []
        assert timers.due(1.05) == [every]
        assert timers.next_deadline() == 1.5
        assert timers.due(1.6) == [once] and not once.active
        assert timers.due(2.2) == [every] and every.at == 3.0
        assert timers.due(10.0) == [every] and every.at == 11.0  # far behind: no burst
        every.cancel()
        assert timers.next_deadline() is None and timers.due(20.0) == []
