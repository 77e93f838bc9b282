"""Data accounting per SIM (surviving restarts), the data cap, and the Prometheus textfile."""

from __future__ import annotations

import calendar
import stat
from pathlib import Path

import pytest

from pppos.accounting import (
    Accountant,
    AccountingStore,
    DataCap,
    format_accounting,
    parse_data_cap,
    render_metrics,
    stored_summaries,
    write_metrics,
)
from pppos.errors import ConfigError

ICCID = "89860012345678901234"
DEC7 = calendar.timegm((2026, 12, 7, 12, 0, 0))
DEC8 = calendar.timegm((2026, 12, 8, 0, 30, 0))
JAN1 = calendar.timegm((2027, 1, 1, 0, 0, 1))


@pytest.mark.parametrize(("text", "cap"), [
    ("2G/month", DataCap(2 * 10**9, "month")), ("500M/day", DataCap(500 * 10**6, "day")),
    ("1000000", DataCap(10**6, "month")), ("1.5GiB", DataCap(int(1.5 * 2**30), "month")),
    ("100kB/day", DataCap(100_000, "day")),
])
def test_parse_data_cap(text: str, cap: DataCap) -> None:
    assert parse_data_cap(text) == cap


@pytest.mark.parametrize("text", ["", "2X", "-5", "2G/week", "0"])
def test_bad_data_cap_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="data-cap"):
        parse_data_cap(text)


def test_totals_per_day_month_survive_sessions_and_restarts(tmp_path: Path) -> None:
    store = AccountingStore(str(tmp_path))
    acc, warning = store.open(ICCID)
    assert warning is None
    acc.update(1000, 200, DEC7)
    acc.update(1500, 300, DEC7)  # cumulative session counters: +500/+100
    acc.new_session()
    acc.update(100, 10, DEC8)  # a new session the next day
    assert store.save(acc, DEC8, force=True) == (True, None)
    path = tmp_path / "accounting" / f"{ICCID}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, _ = store.open(ICCID)  # pppos-up restarted (or the machine rebooted)
    assert again.total == [1600, 310]
    assert again.days == {"2026-12-07": [1500, 300], "2026-12-08": [100, 10]}
    assert again.months == {"2026-12": [1600, 310]}
    again.update(50, 5, JAN1)  # counters that went down: a session we did not see start
    assert again.used("month", JAN1) == 55 and again.used("day", DEC8) == 110
    # Another SIM has its own totals.
    assert store.open("89000000000000000001")[0].total == [0, 0]
    assert store.save(again, JAN1 + 1)[0]  # the first change after a start is written at once
    again.update(60, 6, JAN1 + 2)
    assert not store.save(again, JAN1 + 2)[0]  # then at most every FLUSH_INTERVAL
    assert store.save(again, JAN1 + 3600)[0]
    assert not store.save(again, JAN1 + 7200)[0]  # unchanged: no write


def test_cap_warns_once_at_90_percent_then_stops_at_100(tmp_path: Path) -> None:
    acc = Accountant(ICCID, parse_data_cap("1000/day"))  # sans-I/O: no store needed
    acc.update(800, 0, DEC7)
    assert acc.cap_state(DEC7)[0] == "ok"
    acc.update(900, 0, DEC7)
    state, words = acc.cap_state(DEC7)
    assert state == "warn" and "90%" in words
    assert acc.cap_state(DEC7)[0] == "ok"  # warned once per period
    acc.update(950, 60, DEC7)
    state, words = acc.cap_state(DEC7)
    assert state == "over" and words.startswith("data cap reached") and "next day" in words
    assert acc.cap_state(DEC8)[0] == "ok"  # a new day
    summary = acc.summary(DEC7)
    assert summary["cap"] == {"limit": 1000, "period": "day", "used": 1010}
    lines = format_accounting(summary)
    assert lines[0].startswith("data (SIM ...1234): today 950 B in, 60 B out") and "101%" in lines[1]


def test_metrics_textfile(tmp_path: Path) -> None:
    state = {"ifname": "ppp0", "phase": "running", "local_ip": "10.0.2.15", "reconnects": 3, "bytes_in": 10,
             "bytes_out": 20, "echo_rtt": 0.25, "echo_failures": 1, "signal": {"dbm": -73, "at": DEC7 - 30},
             "last_failure": 'the link was lost: NO CARRIER "x"\nsecond',
             "accounting": {"sim": "...1234", "day": [1, 2], "month": [3, 4], "total": [5, 6]}}
    text = render_metrics(state, now=DEC7)
    lines = text.splitlines()
    assert 'pppos_up{ifname="ppp0"} 1' in lines
    assert 'pppos_reconnects_total{ifname="ppp0"} 3' in lines
    assert 'pppos_session_bytes_total{ifname="ppp0",direction="out"} 20' in lines
    assert 'pppos_sim_bytes{ifname="ppp0",sim="...1234",period="month",direction="in"} 3' in lines
    assert ICCID not in text  # the metrics file is world-readable: the SIM by its last four digits
    assert 'pppos_echo_rtt_seconds{ifname="ppp0"} 0.25' in lines
    assert 'pppos_echo_failures{ifname="ppp0"} 1' in lines
    assert 'pppos_signal_dbm{ifname="ppp0"} -73' in lines and 'pppos_signal_age_seconds{ifname="ppp0"} 30' in lines
    assert 'pppos_last_failure_info{ifname="ppp0",reason="the link was lost: NO CARRIER \\"x\\" second"} 1' in lines
    for line in lines:  # every sample is NAME{labels} VALUE, every family has HELP and TYPE
        assert line.startswith("# ") or (line.count("{") == 1 and float(line.rsplit(" ", 1)[1]) is not None)
    assert render_metrics({"phase": "holdoff"}).splitlines()[2] == 'pppos_up{ifname="ppp0"} 0'
    target = tmp_path / "pppos.prom"
    assert write_metrics(str(target), state, now=DEC7)
    assert target.read_text() == text and list(tmp_path.iterdir()) == [target]
    assert not write_metrics(str(tmp_path / "missing" / "x.prom"), state)


def test_a_corrupt_record_is_moved_aside_with_one_warning(tmp_path: Path) -> None:
    store = AccountingStore(str(tmp_path))
    path = store.path(ICCID)
    path.parent.mkdir(parents=True)
    for garbage in (b"{not json", b'{"total": [1, -2]}', b'{"total": [1, 2], "days": []}', b"\xff\xfe", b"[]"):
        path.write_bytes(garbage)
        acc, warning = store.open(ICCID)
        assert acc.total == [0, 0]
        assert warning is not None and "corrupt" in warning and "counting from zero" in warning
        assert not path.exists() and path.with_name(path.name + ".corrupt").read_bytes() == garbage
    acc.update(10, 20, DEC7)
    assert store.save(acc, DEC7) == (True, None)  # counting goes on in a fresh record
    again, warning = store.open(ICCID)
    assert warning is None and again.total == [10, 20]


def test_a_store_that_cannot_write_keeps_the_totals_and_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    store = AccountingStore(str(blocker))
    acc, warning = store.open(ICCID)
    assert warning is not None and "cannot read" in warning and acc.total == [0, 0]
    acc.update(5, 6, DEC7)
    written, warning = store.save(acc, DEC7)
    assert not written and warning is not None and "cannot write" in warning
    assert acc.flush_due(DEC7 + 1)  # still dirty: the next try writes it
    assert acc.total == [5, 6]


def test_the_record_is_bounded(tmp_path: Path) -> None:
    acc = Accountant(ICCID)
    for day in range(800):
        acc.update(1, 1, DEC7 + day * 86400)
        acc.new_session()
    record = acc.record(DEC7 + 800 * 86400)
    assert len(record["days"]) == 62 and len(record["months"]) == 24
    assert record["total"] == [800, 800]


def _sidecar(tmp_path: Path, *args: str) -> tuple[object, list[tuple[str, str]]]:
    from pppos.config import parse_up_args
    from pppos.sidecar import Sidecar

    said: list[tuple[str, str]] = []

    class Log:
        def step(self, step: str, message: str, **fields: object) -> None:
            said.append(("step", message))

        def warn(self, message: str, **fields: object) -> None:
            said.append(("warn", message))

    return Sidecar(parse_up_args(["/dev/ttyUSB9", *args]), Log()), said


def test_sidecar_metrics_at_most_once_a_second_and_down_at_exit(tmp_path: Path) -> None:
    import asyncio

    metrics = tmp_path / "m.prom"
    side, _ = _sidecar(tmp_path, "--metrics-file", str(metrics))
    running = {"ifname": "ppp0", "phase": "running", "local_ip": "10.0.0.2", "bytes_in": 1, "updated": DEC7}
    side.status(dict(running))  # type: ignore[attr-defined]
    assert 'pppos_up{ifname="ppp0"} 1' in metrics.read_text()
    side.status({**running, "bytes_in": 99, "updated": DEC7 + 0.3})  # type: ignore[attr-defined]
    assert 'direction="in"} 1\n' in metrics.read_text()  # not rewritten within the second
    side.status({**running, "phase": "holdoff", "local_ip": None, "updated": DEC7 + 0.4})  # type: ignore[attr-defined]
    assert 'pppos_up{ifname="ppp0"} 0' in metrics.read_text()  # a phase change is written at once
    side.status({**running, "bytes_in": 99, "updated": DEC7 + 1.5})  # type: ignore[attr-defined]
    assert 'pppos_up{ifname="ppp0"} 1' in metrics.read_text() and 'direction="in"} 99' in metrics.read_text()
    asyncio.run(side.close(DEC7 + 2))  # type: ignore[attr-defined]
    text = metrics.read_text()
    assert 'pppos_up{ifname="ppp0"} 0' in text  # pppos-up is gone: the file no longer says up
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]  # no temporary files left


def test_sidecar_warns_once_for_a_corrupt_record_and_for_a_failing_store(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path))
    record = tmp_path / "accounting" / f"{ICCID}.json"
    record.parent.mkdir()
    record.write_text("garbage")
    side, said = _sidecar(tmp_path)
    side.modem_info(ICCID)  # type: ignore[attr-defined]
    warnings = [m for kind, m in said if kind == "warn"]
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    assert ("step", "counting this SIM's traffic (SIM ...1234)") in said
    assert ICCID not in " ".join(m for _, m in said)  # logs name the SIM by its last four digits
    os.chmod(tmp_path / "accounting", 0o500)
    try:
        if os.access(tmp_path / "accounting", os.W_OK):  # root ignores modes: block with a directory
            os.chmod(tmp_path / "accounting", 0o700)
            (tmp_path / "accounting" / f".{ICCID}.json.tmp").mkdir()
        for i in range(3):
            side.status({"phase": "running", "bytes_in": 100 * (i + 1), "updated": DEC7 + 100 * i})  # type: ignore[attr-defined]
    finally:
        os.chmod(tmp_path / "accounting", 0o700)
    warnings = [m for kind, m in said if kind == "warn"]
    assert len(warnings) == 2 and "cannot write" in warnings[1], said  # said once, not every minute


def test_status_shows_stored_totals_while_nothing_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import time

    from pppos.accounting import AccountingStore
    from pppos.cli import status
    from pppos.errors import ExitStatus

    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path / "run"))
    store = AccountingStore()
    acc, _ = store.open(ICCID)
    acc.update(2_000_000, 500_000, time.time())
    assert store.save(acc, time.time(), force=True)[0]
    assert status.main([]) == ExitStatus.LINK_LOST
    out = capsys.readouterr().out
    assert "not running" in out and "data (SIM ...1234): today 2.0 MB in, 500.0 kB out" in out, out
    assert status.main(["--json"]) == ExitStatus.LINK_LOST
    assert json.loads(capsys.readouterr().out)["accounting"][0]["total"] == [2_000_000, 500_000]


def _utc(*fields: int) -> float:
    return float(calendar.timegm((*fields, 0, 0, 0)[:6]))


@pytest.mark.parametrize(("wall", "period", "end"), [
    ((2026, 12, 7, 12, 0, 0), "month", (2027, 1, 1)),  # December rolls over into January of the next year
    ((2026, 12, 31, 23, 59, 59), "month", (2027, 1, 1)),
    ((2027, 1, 1, 0, 0, 0), "month", (2027, 2, 1)),  # the first second of a month is in it
    ((2027, 1, 31, 18, 0, 0), "month", (2027, 2, 1)),  # 31-day month
    ((2027, 4, 30, 23, 0, 0), "month", (2027, 5, 1)),  # 30-day month
    ((2027, 2, 28, 12, 0, 0), "month", (2027, 3, 1)),
    ((2028, 2, 29, 12, 0, 0), "month", (2028, 3, 1)),  # leap year
    ((2026, 12, 31, 23, 59, 59), "day", (2027, 1, 1)),
    ((2027, 4, 30, 0, 0, 0), "day", (2027, 5, 1)),
    ((2028, 2, 28, 10, 0, 0), "day", (2028, 2, 29)),
])
def test_period_end(wall: tuple[int, ...], period: str, end: tuple[int, int, int]) -> None:
    from pppos.accounting import period_end

    assert period_end(period, float(calendar.timegm(wall))) == _utc(*end)


def test_cap_hold_until_the_period_rolls_over() -> None:
    acc = Accountant(ICCID, parse_data_cap("1M/month"))
    dec31 = float(calendar.timegm((2026, 12, 31, 23, 0, 0)))
    assert acc.cap_hold(dec31) is None  # nothing used
    acc.update(600_000, 300_000, dec31)
    assert acc.cap_hold(dec31) is None  # 90 %
    acc.update(650_000, 350_000, dec31)
    hold = acc.cap_hold(dec31 + 1)
    assert hold is not None and hold.used == "1.0 MB of 1.0 MB/month"
    assert hold.until == JAN1 - 1 and hold.until_words == "2027-01-01 00:00 UTC" and hold.left == 3599.0
    assert acc.cap_hold(JAN1 - 1) is None  # 00:00:00 on the first: a new month, nothing used in it
    assert Accountant(ICCID).cap_hold(dec31) is None  # no cap, no hold


def test_the_store_remembers_the_last_sim_per_interface(tmp_path: Path) -> None:
    store = AccountingStore(str(tmp_path))
    assert store.last_sim("ppp0") is None
    store.remember_sim("ppp0", ICCID)
    store.remember_sim("ppp1", "89000000000000000001")
    store.remember_sim("ppp0", "")  # an unreadable ICCID forgets nothing
    assert store.last_sim("ppp0") == ICCID and store.last_sim("ppp1") == "89000000000000000001"
    path = tmp_path / "accounting" / "last-sim.ppp0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not an ICCID\n")
    assert store.last_sim("ppp0") is None
    assert stored_summaries(DEC7, str(tmp_path)) == []  # not taken for a SIM's record


def test_clock_shift_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from pppos.accounting import CLOCK_SHIFT_ENV, clock_shift, wall_clock

    assert clock_shift() == 0.0
    shift = tmp_path / "shift"
    monkeypatch.setenv(CLOCK_SHIFT_ENV, str(shift))
    assert clock_shift() == 0.0  # no file yet
    shift.write_text("86400\n")
    assert clock_shift() == 86400.0 and wall_clock() - time.time() > 86399
    shift.write_text("soon")
    assert clock_shift() == 0.0


def test_sidecar_precheck_uses_the_sim_last_seen_without_the_modem(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path))
    side, _ = _sidecar(tmp_path, "--data-cap", "1k/month", "--persist")
    side.fatal_cap = False  # type: ignore[attr-defined]  # as the python backend's daemon builds it
    assert side.precheck() is None  # type: ignore[attr-defined]  # no SIM seen yet: dial and find out
    side.modem_info(ICCID)  # type: ignore[attr-defined]
    side.status({"phase": "running", "bytes_in": 900, "bytes_out": 200, "updated": time.time()})  # type: ignore[attr-defined]
    assert side.cap_hold is not None and side.fatal is None  # type: ignore[attr-defined]  # the supervisor acts
    import asyncio

    asyncio.run(side.close())  # type: ignore[attr-defined]
    again, _ = _sidecar(tmp_path, "--data-cap", "1k/month")  # the next start
    hold = again.precheck()  # type: ignore[attr-defined]
    assert hold is not None and hold.used == "1.1 kB of 1.0 kB/month"
    other, _ = _sidecar(tmp_path, "--data-cap", "1k/month", "--ifname", "ppp1")  # another interface: no SIM known
    assert other.precheck() is None  # type: ignore[attr-defined]


def test_sidecar_holding_is_ready_with_its_status_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While holding at the cap the service is up for systemd (READY=1: a `systemctl start` must not block
    for a month), with the hold in words as its Status; said again only when the words change."""
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path))

    def grams() -> list[str]:
        out = []
        while True:
            try:
                out.append(sock.recv(4096).decode())
            except BlockingIOError:
                return out

    try:
        side, _ = _sidecar(tmp_path, "--persist")
        words = "data cap reached (1.2 MB of 1.0 MB/month): holding until 2027-01-01 00:00 UTC"
        side.status({"phase": "holdoff", "supervisor": "holdoff 3 s, attempt 2, next: redial"})  # type: ignore[attr-defined]
        assert grams() == ["STATUS=holdoff 3 s, attempt 2, next: redial"]
        for _ in range(3):
            side.status({"phase": "cap-hold", "supervisor": words})  # type: ignore[attr-defined]
        assert grams() == [f"READY=1\nSTATUS={words}"]
    finally:
        sock.close()
