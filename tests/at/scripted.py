"""A scripted modem for unit tests of the sans-I/O AT cores: a table of command -> reply, no serial port.

It answers like an AI-Thinker A7 by default (echo on until ``ATE0``, an extra blank line after each
reply, ``+CME ERROR:58`` for ``ATH``, plain ``CONNECT``). :func:`run_plan` drives a plan against it
with a float clock, applying SetBaud/SetDtr events the way a driver does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pppos.at.bringup import SetBaud, SetDtr

Reply = str | Callable[["ScriptedModem", str], str | None]

PPP_BYTES = b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x24\x12\x34\x7e"

A7_REPLIES: dict[str, Reply] = {
    "AT": "OK",
    "ATE0Q0V1": "OK",
    "ATE0": "OK",
    "ATE1": "OK",
    "AT+CMEE=2": "OK",
    "ATI": "Ai Thinker Co.LTD\nA7\nV03.03.20161229013H\nOK",
    "AT+CGMI": "Ai Thinker Co.LTD\nOK",
    "AT+CGMM": "A7\nOK",
    "AT+CGMR": "V03.03.20161229013H\nOK",
    "AT+CGSN": "864012345678901\nOK",
    "AT+GPSRD=0": "OK",
    "AT+CPIN?": "+CPIN:READY\nOK",
    "AT+CSQ": "+CSQ: 31,99\nOK",
    "AT+COPS?": '+COPS: 0,0,"Test PLMN"\nOK',
    "AT+CREG?": "+CREG: 1,1\nOK",
    "AT+CGREG?": "+CGREG: 1,1\nOK",
    "AT+CREG=0": "OK",
    "AT+CGATT?": "+CGATT: 1\nOK",
    "AT+CGATT=1": "OK",
    "AT+CGDCONT?": '+CGDCONT: 1,"IP","internet","0.0.0.0",0,0\nOK',
    "ATD*99***1#": "CONNECT",
    "ATO": "NO CARRIER",
    "ATH": "+CME ERROR:58",
    "AT+CGDCONT=": "OK",
}


@dataclass
class ScriptedModem:
    """Answers command lines from ``replies``; ``None`` from a callable means stay silent."""

    replies: dict[str, Reply] = field(default_factory=lambda: dict(A7_REPLIES))
    echo: bool = True
    extra_blank: bool = True
    baud: int = 115200
    data_mode: bool = False
    #: what a PPP peer sends while in data mode when it gets a frame
    ppp_answer: bytes = PPP_BYTES
    #: bytes appended after CONNECT (the first PPP frame)
    connect_trailing: bytes = PPP_BYTES
    current_baud: int = 115200
    dtr: bool = True
    commands: list[str] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    _line: bytearray = field(default_factory=bytearray)

    def reply_bytes(self, text: str) -> bytes:
        out = b""
        for line in text.split("\n"):
            out += b"\r\n" + line.encode() + b"\r\n"
            if self.extra_blank:
                out += b"\r\n"
        return out

    def feed(self, data: bytes) -> bytes:
        """Bytes from the DTE -> bytes the modem answers."""
        self.raw += data
        if self.current_baud != self.baud:
            return b"\xf8\x00\x80" if data else b""  # wrong rate: framing garbage
        if self.data_mode:
            if data == b"+++":
                self.data_mode = False
                return self.reply_bytes("OK")
            return self.ppp_answer if b"\x7e" in data else b""
        if data == b"+++":
            return b""
        out = b""
        for byte in data:
            if byte == 0x0D:
                line = self._line.decode("latin-1")
                self._line.clear()
                if self.echo:
                    out += line.encode("latin-1") + b"\r"
                if not line.strip().upper().startswith("AT"):
                    continue
                out += self.answer(line.strip())
                if self.data_mode:
                    out += self.connect_trailing
            elif byte != 0x0A:
                self._line.append(byte)
        return out

    def answer(self, command: str) -> bytes:
        self.commands.append(command)
        upper = command.upper()
        if upper.startswith("ATE0"):
            self.echo = False
        reply = self.replies.get(upper, self.replies.get(command))
        if reply is None:
            for key, value in self.replies.items():
                if key.endswith("=") and upper.startswith(key):
                    reply = value
        if reply is None:
            return self.reply_bytes("ERROR")
        text = reply(self, command) if callable(reply) else reply
        if text is None:
            return b""
        if text.split("\n")[-1].startswith("CONNECT"):
            self.data_mode = True
        return self.reply_bytes(text)


def run_plan(plan, modem: ScriptedModem, now: float = 1000.0, *, bytewise: bool = False, max_steps: int = 10000):
    """Drive ``plan`` against ``modem`` until it is done; returns (events, end time)."""
    events: list[object] = []
    if not getattr(plan, "_script", None):
        plan.start(now)
    for _ in range(max_steps):
        while (event := plan.next_event()) is not None:
            events.append(event)
            if isinstance(event, SetBaud):
                modem.current_baud = event.rate
            elif isinstance(event, SetDtr):
                modem.dtr = event.level
        if plan.done:
            break
        out = plan.data_to_send()
        if out:
            answer = modem.feed(out)
            if answer:
                if bytewise:
                    for i in range(len(answer)):
                        plan.receive_data(answer[i : i + 1], now)
                else:
                    plan.receive_data(answer, now)
            continue
        timer = plan.get_timer()
        if timer is None:
            break
        now = max(now, timer)
        plan.handle_timer(now)
    return events, now
