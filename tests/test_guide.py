"""docs/guide.md quotes the lines pppos prints: each quoted fragment must still be in the code, and
the README links the guide."""

from __future__ import annotations

from pathlib import Path

from pppos.errors import ExitStatus

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "guide.md").read_text()
SOURCE = "\n".join(p.read_text() for p in (ROOT / "pppos").rglob("*.py"))

QUOTED = [
    "the SIM needs its PIN: run again with --pin-file FILE (a file holding the PIN, mode 600)",
    "refused this PIN before, so it was not sent again",
    "PIN attempt(s) left, so no PIN was sent",
    "the SIM is locked and needs its PUK (too many wrong PINs): unlock it in a phone; no PIN was sent",
    "no SIM card is inserted (or it is not making contact): insert it with the power off",
    "check the port, the cable (TX/RX crossed, common ground)",
    "stop it first (pppos-down, or end that program)",
    "the port is busy (another program, ModemManager or pppd, has it open)",
    "check the antenna and coverage, or give it longer (pppos-up --registration-timeout, ",
    "registration was denied by the network ({registration}): the SIM may be inactive, barred ",
    "check the APN (--apn) and that the SIM has data",
    "the peer gave no DNS servers and no --dns was given",
    "it is still in data mode",
    "the modem did not leave data mode ({text}): power-cycle it",
    "the serial port reported end of file",
    "is too old (AsyncIPRoute needs",
    "exited with status",
    "data cap reached (",
    "): holding until ",
]


def test_quoted_lines_exist_in_the_code() -> None:
    for fragment in QUOTED:
        assert fragment in SOURCE, fragment


def test_exit_status_table_matches() -> None:
    for status in ExitStatus:
        if status in (ExitStatus.ERROR, ExitStatus.TLS, ExitStatus.BAD_TOKEN):
            continue
        assert f"| {int(status)} | " in GUIDE, status


def test_readme_links_the_guide() -> None:
    assert "docs/guide.md" in (ROOT / "README.md").read_text()
