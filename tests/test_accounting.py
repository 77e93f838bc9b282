"""Data accounting per SIM (surviving restarts), the data cap, and the Prometheus textfile."""

from __future__ import annotations

import calendar
import stat
from pathlib import Path

import pytest

from pppos.accounting import Accountant, DataCap, format_accounting, parse_data_cap, render_metrics, write_metrics
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
    d = str(tmp_path)
    acc = Accountant.load(ICCID, d)
    acc.update(1000, 200, DEC7)
    acc.update(1500, 300, DEC7)  # cumulative session counters: +500/+100
    acc.new_session()
    acc.update(100, 10, DEC8)  # a new session the next day
    assert acc.flush(DEC8, force=True)
    path = tmp_path / "accounting" / f"{ICCID}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = Accountant.load(ICCID, d)  # pppos-up restarted (or the machine rebooted)
    assert again.total == [1600, 310]
    assert again.days == {"2026-12-07": [1500, 300], "2026-12-08": [100, 10]}
    assert again.months == {"2026-12": [1600, 310]}
    again.update(50, 5, JAN1)  # counters that went down: a session we did not see start
    assert again.used("month", JAN1) == 55 and again.used("day", DEC8) == 110
    # Another SIM has its own totals.
    assert Accountant.load("89000000000000000001", d).total == [0, 0]
    assert again.flush(JAN1 + 1)  # the first change after a start is written at once
    again.update(60, 6, JAN1 + 2)
    assert not again.flush(JAN1 + 2) and again.flush(JAN1 + 3600)  # then at most every FLUSH_INTERVAL
    assert not again.flush(JAN1 + 7200)  # unchanged: no write


def test_cap_warns_once_at_90_percent_then_stops_at_100(tmp_path: Path) -> None:
    acc = Accountant.load(ICCID, str(tmp_path), parse_data_cap("1000/day"))
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
             "accounting": {"iccid": ICCID, "day": [1, 2], "month": [3, 4], "total": [5, 6]}}
    text = render_metrics(state, now=DEC7)
    lines = text.splitlines()
    assert 'pppos_up{ifname="ppp0"} 1' in lines
    assert 'pppos_reconnects_total{ifname="ppp0"} 3' in lines
    assert 'pppos_session_bytes_total{ifname="ppp0",direction="out"} 20' in lines
    assert f'pppos_sim_bytes{{ifname="ppp0",iccid="{ICCID}",period="month",direction="in"}} 3' in lines
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


def test_status_shows_stored_totals_while_nothing_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import time

    from pppos.cli import status
    from pppos.errors import ExitStatus

    monkeypatch.setenv("PPPOS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PPPOS_RUN_DIR", str(tmp_path / "run"))
    acc = Accountant.load(ICCID)
    acc.update(2_000_000, 500_000, time.time())
    assert acc.flush(time.time(), force=True)
    assert status.main([]) == ExitStatus.LINK_LOST
    out = capsys.readouterr().out
    assert "not running" in out and "data (SIM ...1234): today 2.0 MB in, 500.0 kB out" in out
    assert status.main(["--json"]) == ExitStatus.LINK_LOST
    assert json.loads(capsys.readouterr().out)["accounting"][0]["total"] == [2_000_000, 500_000]
