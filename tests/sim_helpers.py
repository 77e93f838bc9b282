"""Helpers for tests that use the modem simulator (``pppos-sim``) and slirp on real ptys.

- :func:`run_sim`: start ``python -m pppos.cli.sim --link ...`` and yield the link path.
- :func:`chat`: send one AT command on a blocking-ish fd and collect the reply until a final result.
- :func:`hdlc_frame` / :func:`hdlc_frames`: a tiny independent RFC 1662 framer/deframer used as a test
  oracle (it does not import ``pppos.ppp`` so the simulator tests stand alone).
- :func:`need_slirp`: skip (or fail under ``PPPOS_REQUIRE_ALL=1``) when slirp or gcc is missing.
- :func:`start_sim` / :func:`stop_sim`: the same as :func:`run_sim` when a test needs the process.
- :func:`ppp_frame` / :func:`ppp_packet`: build and split PPP frames (ACFC/PFC undone).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import need_tool

#: Final result lines that end an AT command (the A7 dialect and its cousins).
FINAL_RESULTS = (b"OK", b"ERROR", b"NO CARRIER", b"BUSY", b"NO ANSWER", b"NO DIALTONE", b"COMMAND NO RESPONSE!")


def need_slirp() -> None:
    """Require slirp and gcc (the select() shim is compiled on the fly)."""
    need_tool("slirp", "gcc")


# -- RFC 1662 oracle ------------------------------------------------------------------------------


def fcs16(data: bytes) -> int:
    """RFC 1662 appendix C.2 FCS-16 (bitwise, deliberately independent of ``pppos.ppp.hdlc``)."""
    fcs = 0xFFFF
    for byte in data:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def hdlc_frame(body: bytes) -> bytes:
    """Frame ``body`` (address/control/protocol/payload) with FCS, escaping all control chars (ACCM ffffffff)."""
    fcs = fcs16(body)
    raw = body + bytes([fcs & 0xFF, fcs >> 8])
    out = bytearray(b"\x7e")
    for byte in raw:
        if byte < 0x20 or byte in (0x7D, 0x7E):
            out += bytes([0x7D, byte ^ 0x20])
        else:
            out.append(byte)
    out.append(0x7E)
    return bytes(out)


def hdlc_frames(stream: bytes) -> list[bytes]:
    """Split ``stream`` into de-escaped frames whose FCS is good (FCS removed); noise is dropped."""
    frames = []
    for chunk in stream.split(b"\x7e"):
        if not chunk:
            continue
        body = bytearray()
        escaped = False
        for byte in chunk:
            if escaped:
                body.append(byte ^ 0x20)
                escaped = False
            elif byte == 0x7D:
                escaped = True
            else:
                body.append(byte)
        if len(body) >= 4 and fcs16(bytes(body[:-2])) == body[-2] | (body[-1] << 8):
            frames.append(bytes(body[:-2]))
    return frames


#: An LCP Configure-Request, id 1, with only a magic number (0x12345678): ff 03 c0 21 01 01 00 0a 05 06 ...
LCP_CONFREQ = bytes.fromhex("ff03c021" "0101000a" "050612345678")


def read_until(fd: int, predicate: object, timeout: float) -> bytes:
    """Read from ``fd`` until ``predicate(buffer)`` is true or ``timeout`` seconds pass; return the buffer."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not predicate(buf):  # type: ignore[operator]
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], min(left, 0.2))
        if ready:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
    return buf


# -- the simulator as a process -------------------------------------------------------------------


def _has_final(buf: bytes) -> bool:
    """True when ``buf`` holds a complete final result line (terminated by LF)."""
    for line in buf.split(b"\n")[:-1]:
        stripped = line.strip()
        if stripped in FINAL_RESULTS or stripped.startswith((b"+CME ERROR", b"+CMS ERROR", b"CONNECT")):
            return True
    return False


def _write_when_ready(fd: int, data: bytes, timeout: float) -> None:
    """Write ``data`` to a non-blocking fd, waiting while the pty's input queue is full.

    After a test floods the link (64 KB of noise), the simulator may not have drained the queue yet:
    a bare ``os.write`` would then raise BlockingIOError instead of waiting like a real terminal.
    """
    deadline = time.monotonic() + timeout
    view = memoryview(data)
    while view:
        assert time.monotonic() < deadline, "the simulator stopped reading its link"
        _, writable, _ = select.select([], [fd], [], min(0.2, max(deadline - time.monotonic(), 0)))
        if writable:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue


def chat(fd: int, command: str | bytes, timeout: float = 3.0) -> str:
    """Send ``command`` + CR on ``fd`` and return everything read until a final result line (or timeout).

    After the final result it waits up to 50 ms for the blank line the A7 adds, so replies end the
    same way whatever the timing; later URCs are left for the next read.
    """
    raw = command.encode() if isinstance(command, str) else command
    _write_when_ready(fd, raw + b"\r", timeout)
    buf = read_until(fd, _has_final, timeout)
    if _has_final(buf) and not buf.endswith(b"\r\n\r\n") and b"CONNECT" not in buf:
        buf += read_until(fd, bool, 0.05)
    return buf.decode("latin-1")


def open_link(link: str | Path) -> int:
    """Open the simulator's link in raw mode, non-blocking; return the fd."""
    import tty

    fd = os.open(str(link), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return fd


def start_sim(tmp_path: Path, *args: str, timeout: float = 10.0) -> tuple[subprocess.Popen[bytes], Path, str]:
    """Start ``pppos-sim --fast`` with ``args`` (link at ``tmp_path/modem``); return (process, link, start-up line).

``--fast`` shortens the simulated latencies; a test that needs another one passes its ``--*-delay``.

    Waits for the start-up line on stdout; raises AssertionError with the simulator's stderr if it fails.
    """
    link = tmp_path / "modem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pppos.cli.sim", "--link", str(link), "--fast", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = b""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if ready:
        line = proc.stdout.readline()
    if str(link).encode() not in line:
        stop_sim(proc)
        err = proc.stderr.read() if proc.stderr is not None else b""
        raise AssertionError(f"pppos-sim did not start: {line!r} {err.decode(errors='replace')[-2000:]}")
    return proc, link, line.decode(errors="replace")


def stop_sim(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Signal the simulator, wait up to 5 s (then SIGKILL), and return its exit status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def run_sim(tmp_path: Path, *args: str, timeout: float = 10.0) -> Iterator[Path]:
    """Start ``pppos-sim`` with ``args`` and yield its link path; stop and reap it on exit."""
    proc, link, _ = start_sim(tmp_path, *args, timeout=timeout)
    try:
        yield link
    finally:
        stop_sim(proc)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def ppp_packet(frame: bytes) -> tuple[int, bytes]:
    """Split a de-framed PPP frame into (protocol, payload), undoing ACFC and PFC (RFC 1661 6.5, 6.6)."""
    if frame[:2] == b"\xff\x03":
        frame = frame[2:]
    if frame[0] & 1:
        return frame[0], frame[1:]
    return int.from_bytes(frame[:2], "big"), frame[2:]


def ppp_frame(protocol: int, payload: bytes) -> bytes:
    """An HDLC frame (full address/control and 2-byte protocol) carrying ``payload``."""
    return hdlc_frame(b"\xff\x03" + protocol.to_bytes(2, "big") + payload)
