"""pppos-status shows the supervisor's state in words, reconnects, uptimes, echo failures, signal age."""

from __future__ import annotations

from pppos.net.status import format_status


def test_status_lines_for_a_supervised_session() -> None:
    now = 1_000_000.0
    state = {
        "ifname": "ppp0", "pid": 42, "backend": "python", "phase": "holdoff", "persist": True,
        "supervisor": "holdoff 12 s, attempt 3, next: radio off/on", "attempts": 2, "reconnects": 1,
        "failures": 1, "recoveries": {"reattach": 1}, "started": now - 3600, "echo_failures": 2,
        "signal": {"dbm": -65, "word": "excellent", "at": now - 30},
    }
    text = format_status(state, now)
    assert "phase: holdoff" in text
    assert "supervisor: holdoff 12 s, attempt 3, next: radio off/on" in text
    assert "reconnects: 1; attempts: 2; consecutive failures: 1; recoveries: reattach 1" in text
    assert "service uptime: 3600 s" in text
    assert "unanswered lcp echoes: 2" in text
    assert "signal: -65 dBm (excellent, 30 s ago)" in text


def test_one_shot_status_has_no_supervisor_lines() -> None:
    text = format_status({"ifname": "ppp0", "pid": 1, "phase": "running", "supervisor": "running, attempt 1",
                          "persist": False, "started": 0.0}, 10.0)
    assert "reconnects" not in text and "service uptime" not in text
