"""TCP bulk goodput through the whole pppos path, daemon CPU per MB, and bring-up time.

Path: a socket in a throwaway network namespace -> ppp0 (TUN) -> pppos-up's PPP stack -> pty ->
``pppos-sim --baud B`` (paced at the line rate, 8N1: B/10 octets per second) -> slirp -> a TCP socket
on the host's 127.0.0.1 (reached as 10.0.2.2, or through a slirp port redirection into the
namespace). Both directions are measured at 115200 and 921600 baud, each for a few seconds after a
warm-up, as TCP payload octets per second at the receiver and as a fraction of the line rate.

Variants (each one is a row of the results file; the notes at the end say what limits each):

- ``upload``: one TCP flow, namespace -> host.
- ``upload x3`` (921600 only): three flows at once (slirp caps each flow; see the notes).
- ``download``: the host connects in through slirp's ``redir`` and sends (slirp uses the MSS our SYN-ACK
  announced: 1460-octet segments).
- ``download, ns connects``: the namespace connects out and the host sends (slirp 1.0.17 ignores the
  MSS option of SYNs it proxies and sends 512-octet segments).
- ``upload, slirp default map`` (115200 only): slirp started without ``asyncmap 0`` asks for no ACCM,
  so the RFC 1662 default (all ones) applies and every control octet we send is escaped.
- ``LTE-class``: the simulator unpaced (no ``--baud``: neither it nor slirp throttles, as an LTE modem
  on USB carries tens of Mbit/s), four download flows through slirp's redirection at once; reported in
  MB/s with pppos-up's CPU per MB next to slirp's and the simulator's (all three on the same 2 cores).

The simulator starts slirp with ``asyncmap 0`` (the map pppd and most modems ask for) unless the
variant says otherwise. Counting: the first chunk at or after the warm-up starts the clock and is not
counted; every later chunk up to the end of the window is. The daemon's CPU time comes from
``/proc/<pid>/stat`` (utime + stime), sampled every 50 ms and interpolated to the counting window.

Bring-up: on an unpaced simulator with ``--trace``, the daemon's own ``up in N s`` (first byte to the
modem -> ppp0 configured) split into the time we held the turn (from a reply or frame received to our
next line or frame sent, and from the last one to ppp0 configured) and the time the modem and its
peer took to answer.

The simulator runs with ``--fast`` (short modem latencies: the bring-up split below is about our
time; the modem's realistic latencies are the recovery bench's subject).

Run as root: ``python bench/goodput_bench.py`` (writes bench/results/goodput.txt; about 3 minutes).
``GOODPUT_QUICK=1`` skips the unpaced bring-up and does not write the file; ``GOODPUT_BAUDS=115200``
picks rates (``GOODPUT_BAUDS=lte`` only the LTE-class row). Needs slirp, gcc and iproute2. Never touches
the host's routes or resolver; traffic stays on loopback and slirp (whose redirection listeners the
shim binds to 127.0.0.1).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import re
import secrets
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "goodput.txt"
WARMUP = 1.5
#: counting window per baud rate: at 115200 a 1460-octet segment takes 0.13 s of line time
WINDOWS = {115200: 8.0, 921600: 4.0}
#: the LTE-class row: flows and counting window (seconds)
LTE_FLOWS = 4
LTE_WINDOW = 4.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEER_PORT = 5201  # the namespace-side port that slirp's redirection connects to
BLOCK = bytes(range(256)) * 64  # every octet value equally often: 34 of 256 are control/flag/escape
RUN_BASE = Path("/dev/shm/pppos-goodput") if Path("/dev/shm").is_dir() else Path("/run/pppos-goodput")
#: the namespace's address from slirp (RFC 1332 IP-Address), for the redirection
NS_ADDR = "10.0.2.15"


# --------------------------------------------------------------------------- counting


@dataclass
class Counter:
    """Payload octets after a warm-up, clocked from the first chunk at or after it (not counted)."""

    warmup: float
    window: float
    first: float | None = None
    start: float | None = None
    end: float = 0.0
    counted: int = 0

    def add(self, n: int, now: float) -> bool:
        """Account ``n`` octets that arrived at ``now``; True once the window is full."""
        if self.first is None:
            self.first = now
        if now < self.first + self.warmup:
            return False
        if self.start is None:
            self.start = now
            return False
        self.counted += n
        self.end = now
        return now >= self.start + self.window

    def result(self) -> dict:
        seconds = self.end - self.start if self.start is not None else 0.0
        return {"bytes": self.counted, "seconds": seconds, "start": self.start, "end": self.end}


def wakeup_floor(seconds: float = 5.0, chunk: int = 920, interval: float = 0.01) -> tuple[float, float]:
    """CPU of a bare asyncio loop that only reads a pty fed ``chunk`` octets every ``interval`` seconds
    by another process (the simulator's cadence at 921600): (% of one core, wake-ups per second).
    Whatever this costs on a machine, the daemon pays too before it does any PPP work."""
    import asyncio
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    pid = os.fork()
    if pid == 0:  # the feeder
        os.close(slave)
        data, nxt = b"x" * chunk, time.monotonic()
        while True:
            os.write(master, data)
            nxt += interval
            time.sleep(max(0.0, nxt - time.monotonic()))
        os._exit(0)
    os.close(master)
    os.set_blocking(slave, False)
    count = 0

    def readable() -> None:
        nonlocal count
        with contextlib.suppress(BlockingIOError):
            os.read(slave, 65536)
        count += 1

    async def measure() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        loop.add_reader(slave, readable)
        await asyncio.sleep(1.0)
        c0, n0, t0 = time.process_time(), count, time.monotonic()
        await asyncio.sleep(seconds)
        c1, n1, t1 = time.process_time(), count, time.monotonic()
        loop.remove_reader(slave)
        return (c1 - c0) / (t1 - t0) * 100, (n1 - n0) / (t1 - t0)

    try:
        return asyncio.run(measure())
    finally:
        os.kill(pid, signal.SIGKILL)  # it may be blocked writing to the pty nobody reads now
        os.waitpid(pid, 0)
        os.close(slave)


def core_speed(iterations: int = 2_000_000) -> float:
    """Milliseconds of CPU for a plain Python loop of ``iterations`` additions (best of three): a yardstick
    for the CPU shares above, since a shared VM's core can be several times slower than a desktop's."""
    best = float("inf")
    for _ in range(3):
        start, total = time.process_time(), 0
        for k in range(iterations):
            total += k
        best = min(best, time.process_time() - start)
    return best * 1000


def child_main(argv: list[str]) -> int:
    """Runs inside the namespace: ``send HOST PORT SECONDS [FLOWS]``, ``recv HOST PORT WARMUP WINDOW``
    or ``accept PORT WARMUP WINDOW`` (prints a line when listening, then the JSON result)."""
    mode = argv[0]
    if mode == "send":
        host, port, seconds = argv[1], int(argv[2]), float(argv[3])
        flows = int(argv[4]) if len(argv) > 4 else 1

        def send() -> None:
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=30) as s:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    s.sendall(BLOCK)

        threads = [threading.Thread(target=send, daemon=True) for _ in range(flows)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return 0
    if mode == "acceptn":
        return _accept_flows(int(argv[1]), float(argv[2]), float(argv[3]), int(argv[4]))
    if mode == "recv":
        conn = socket.create_connection((argv[1], int(argv[2])), timeout=30)
        counter = Counter(float(argv[3]), float(argv[4]))
    else:
        srv = socket.create_server(("0.0.0.0", int(argv[1])))
        print("listening", flush=True)
        srv.settimeout(30)
        conn, _ = srv.accept()
        srv.close()
        counter = Counter(float(argv[2]), float(argv[3]))
    with conn:
        conn.settimeout(30)
        while True:
            data = conn.recv(65536)
            if not data or counter.add(len(data), time.monotonic()):
                break
    print(json.dumps(counter.result()), flush=True)
    return 0


def _accept_flows(port: int, warmup: float, window: float, flows: int) -> int:
    """``acceptn``: accept ``flows`` connections and count what all of them carry together."""
    srv = socket.create_server(("0.0.0.0", port))
    print("listening", flush=True)
    srv.settimeout(30)
    conns = []
    for _ in range(flows):
        conn, _ = srv.accept()
        conn.setblocking(False)
        conns.append(conn)
    srv.close()
    counter = Counter(warmup, window)
    sel = selectors.DefaultSelector()
    for conn in conns:
        sel.register(conn, selectors.EVENT_READ)
    done, deadline = False, time.monotonic() + warmup + window + 60
    while not done and time.monotonic() < deadline and sel.get_map():
        for key, _ in sel.select(1.0):
            data = key.fileobj.recv(262144)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                continue
            if counter.add(len(data), time.monotonic()):
                done = True
                break
    for conn in conns:
        conn.close()
    print(json.dumps(counter.result()), flush=True)
    return 0


# --------------------------------------------------------------------------- evidence


def tcp_info(ns: Netns) -> dict:
    """The bulk connection's TCP state inside the namespace (``ss -tin``): the peer's (slirp's)
    advertised window, smoothed/min RTT, the segment size we receive, segments in and out."""
    out = subprocess.run(ns.argv("ss", "-tin"), capture_output=True, text=True).stdout
    info: dict = {}
    for key in ("snd_wnd", "rcvmss", "minrtt", "segs_in", "data_segs_in", "data_segs_out"):
        m = re.search(rf"\b{key}:([0-9.]+)", out)
        if m:
            info[key] = float(m.group(1))
    m = re.search(r"\brtt:([0-9.]+)/", out)
    if m:
        info["rtt"] = float(m.group(1))
    return info


def tcp_evidence(ns: Netns, delay: float, gap: float, into: dict) -> threading.Thread:
    """Sample :func:`tcp_info` twice (``gap`` seconds apart, starting after ``delay``) in a thread."""

    def run() -> None:
        time.sleep(delay)
        first = tcp_info(ns)
        time.sleep(gap)
        second = tcp_info(ns)
        into.update(second)
        for key in ("segs_in", "data_segs_in", "data_segs_out"):
            if key in first and key in second:
                into[f"{key}_per_s"] = (second[key] - first[key]) / gap

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuSampler:
    """Samples a process's CPU time every 50 ms, to read it at any instant of the run afterwards."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                self.samples.append((time.monotonic(), cpu_seconds(self.pid)))
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, when: float) -> float:
        """CPU seconds at ``when`` (linear between the neighbouring samples)."""
        before = [s for s in self.samples if s[0] <= when]
        after = [s for s in self.samples if s[0] >= when]
        if not before or not after:
            return (before or after)[-1 if before else 0][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (when - t0) / (t1 - t0)


# --------------------------------------------------------------------------- the path


class Netns:
    def __init__(self) -> None:
        self.name = f"pppos-bench-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def argv(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def close(self) -> None:
        out = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True).stdout
        for pid in out.split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.2)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Session:
    """pppos-sim on the host + pppos-up in a namespace, until close()."""

    workdir: Path
    baud: int | None
    accm0: bool = True
    trace: bool = False
    redirect_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        link = self.workdir / "modem"
        args = [sys.executable, "-m", "pppos.cli.sim", "--profile", "a7", "--network", "slirp", "--link", str(link),
                "--fast"]
        if self.baud:
            args += ["--baud", str(self.baud)]
        # slirp sends a redirected connection from its idea of the host's address; on a machine whose
        # name resolves to 127.0.x.1 that is a loopback source, which Linux drops on ppp0 (a martian).
        # "host addr" makes it the host alias 10.0.2.2 that the namespace already talks to.
        options = [f"redir tcp {self.redirect_port} to {NS_ADDR}:{PEER_PORT}", "host addr 10.0.2.2"]
        if self.accm0:
            options.append("asyncmap 0")
        for option in options:
            args += ["--slirp-option", option]
        self.sim = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        assert self.sim.stdout is not None
        line = self.sim.stdout.readline()
        if str(link).encode() not in line:
            raise SystemExit(f"pppos-sim did not start: {line!r}")
        self.ns = Netns()
        # The state file lives in /run/pppos, a tmpfs on Debian; /tmp here is ext4, where each 1 s
        # atomic rewrite (write + rename) costs 1-3 ms of CPU. /dev/shm is the tmpfs at hand.
        run_dir = RUN_BASE / f"{os.getpid()}-{self.workdir.name}"
        env = {**os.environ, "PPPOS_RUN_DIR": str(run_dir), "PPPOS_STATE_DIR": str(run_dir / "state"),
               "PPPOS_RESOLV_CONF": str(self.workdir / "resolv")}
        self.log = self.workdir / "up.log"
        with open(self.log, "wb") as fh:
            up_args = [str(link), "--apn", "internet", "--default-route", "--log-format", "json", "--lcp-echo", "off"]
            if self.baud:
                up_args += ["--baud", str(self.baud)]
            if self.trace:
                up_args.append("--trace")
            self.up = subprocess.Popen(self.ns.argv(sys.executable, "-m", "pppos.cli.up", *up_args),
                                       stdout=fh, stderr=subprocess.STDOUT, env=env)
        self.up_record = self._wait_up()
        self.cpu = CpuSampler(self.up.pid)

    def records(self) -> list[dict]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def _wait_up(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.records():
                if record.get("step") == "up":
                    return record
            if self.up.poll() is not None:
                raise SystemExit(f"pppos-up exited {self.up.returncode}: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        raise SystemExit("pppos-up did not come up")

    def child(self, *args: str, stdout: int | None = None) -> subprocess.Popen:
        return subprocess.Popen(self.ns.argv(sys.executable, str(Path(__file__).resolve()), "--child", *args),
                                stdout=stdout, stderr=subprocess.DEVNULL, text=True)

    @staticmethod
    def _stop(proc: subprocess.Popen, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; always reaped."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        if hasattr(self, "cpu"):
            self.cpu.stop()
        if hasattr(self, "up"):
            self._stop(self.up, 20)
        if hasattr(self, "ns"):
            self.ns.close()
        self._stop(self.sim, 10)
        shutil.rmtree(RUN_BASE / f"{os.getpid()}-{self.workdir.name}", ignore_errors=True)


def _with_cpu(session: Session, result: dict) -> dict:
    if result.get("start") is not None:
        result["cpu"] = session.cpu.at(result["end"]) - session.cpu.at(result["start"])
    return result


def upload(session: Session, window: float, flows: int = 1) -> dict:
    """Namespace -> host: the host server counts the payload octets of all flows together."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    counter = Counter(WARMUP, window)
    evidence: dict = {}
    probe = tcp_evidence(session.ns, WARMUP + 1.0, 2.0, evidence)
    sender = session.child("send", "10.0.2.2", str(port), str(WARMUP + window + 5), str(flows))
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    conns = []
    deadline = time.monotonic() + WARMUP + window + 60
    done = False
    while not done and time.monotonic() < deadline:
        for key, _ in sel.select(1.0):
            if key.fileobj is srv:
                conn, _ = srv.accept()
                conn.setblocking(False)
                conns.append(conn)
                sel.register(conn, selectors.EVENT_READ)
                continue
            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
            if not data:
                sel.unregister(key.fileobj)
                continue
            if counter.add(len(data), time.monotonic()):
                done = True
                break
    sender.kill()
    sender.wait()
    probe.join(timeout=10)
    for conn in conns:
        conn.close()
    srv.close()
    sel.close()
    result = _with_cpu(session, counter.result())
    result["tcp"] = evidence
    result["flows"] = len(conns)
    return result


def _serve_bulk(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        conn.settimeout(1.0)
        while not stop.is_set():
            try:
                conn.sendall(BLOCK)
            except TimeoutError:
                continue
            except OSError:
                break


def download(session: Session, window: float) -> dict:
    """Host -> namespace through slirp's redirection: the host connects in, the namespace counts."""
    receiver = session.child("accept", str(PEER_PORT), str(WARMUP), str(window), stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    if receiver.stdout.readline().strip() != "listening":
        raise SystemExit("the namespace receiver did not start")
    stop = threading.Event()
    conn = socket.create_connection(("127.0.0.1", session.redirect_port), timeout=30)
    t = threading.Thread(target=_serve_bulk, args=(conn, stop), daemon=True)
    t.start()
    evidence: dict = {}
    probe = tcp_evidence(session.ns, WARMUP + 1.0, 2.0, evidence)
    out, _ = receiver.communicate(timeout=WARMUP + window + 60)
    stop.set()
    t.join(timeout=5)
    probe.join(timeout=10)
    result = _with_cpu(session, json.loads(out.splitlines()[-1]))
    result["tcp"] = evidence
    return result


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
        return [int(x) for x in fh.read().split()]
    return []


def download_flows(session: Session, window: float, flows: int) -> dict:
    """Host -> namespace, ``flows`` connections through slirp's redirection at once (the LTE-class row):
    adds the CPU of slirp and of the simulator over the same window."""
    slirps = _children(session.sim.pid)
    samplers = {"slirp": CpuSampler(slirps[0])} if slirps else {}
    samplers["sim"] = CpuSampler(session.sim.pid)
    receiver = session.child("acceptn", str(PEER_PORT), str(WARMUP), str(window), str(flows),
                             stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    if receiver.stdout.readline().strip() != "listening":
        raise SystemExit("the namespace receiver did not start")
    stop = threading.Event()
    threads = []
    for _ in range(flows):
        conn = socket.create_connection(("127.0.0.1", session.redirect_port), timeout=30)
        t = threading.Thread(target=_serve_bulk, args=(conn, stop), daemon=True)
        t.start()
        threads.append(t)
    out, _ = receiver.communicate(timeout=WARMUP + window + 90)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    for sampler in samplers.values():
        sampler.stop()
    result = _with_cpu(session, json.loads(out.splitlines()[-1]))
    if result.get("start") is not None:
        for name, sampler in samplers.items():
            result[f"cpu_{name}"] = sampler.at(result["end"]) - sampler.at(result["start"])
    result["flows"] = flows
    return result


def describe_lte(r: dict) -> str:
    """The LTE-class row: MB/s and CPU seconds per MB of each process on the path."""
    mb = r["bytes"] / 1e6
    rate = mb / r["seconds"] if r["seconds"] > 0 else float("nan")
    parts = []
    for key, name in (("cpu", "pppos-up"), ("cpu_slirp", "slirp"), ("cpu_sim", "pppos-sim")):
        if key in r and mb > 0:
            parts.append(f"{name} {r[key] / mb * 1000:.0f} ms/MB ({r[key] / r['seconds'] * 100:.0f} % of a core)")
    return (f"{'LTE-class download x' + str(r['flows']):<35} unpaced: {rate:7.2f} MB/s ({rate * 8:.1f} Mbit/s) over "
            f"{r['seconds']:.1f} s; CPU per MB: {', '.join(parts)}")


def download_outbound(session: Session, window: float) -> dict:
    """Host -> namespace with the namespace connecting out (slirp sends 512-octet segments)."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = srv.accept()
            _serve_bulk(conn, stop)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    evidence: dict = {}
    probe = tcp_evidence(session.ns, WARMUP + 1.0, 2.0, evidence)
    receiver = session.child("recv", "10.0.2.2", str(port), str(WARMUP), str(window), stdout=subprocess.PIPE)
    out, _ = receiver.communicate(timeout=WARMUP + window + 60)
    stop.set()
    t.join(timeout=5)
    probe.join(timeout=10)
    srv.close()
    result = _with_cpu(session, json.loads(out.splitlines()[-1]))
    result["tcp"] = evidence
    return result


# --------------------------------------------------------------------------- reporting


def framing_ceiling(payload: float, escaped: float = 2 / 256) -> float:
    """TCP payload / line octets for ``payload``-octet segments: 40 octets of IPv4+TCP header, 4 of
    PPP (flag, PFC protocol, FCS-16; ACFC) and the escaped share of octets (ACCM 0: 0x7D/0x7E, 2 in 256
    of the bench's pattern) -- RFC 1662 section 4 framing, RFC 1661 sections 6.5/6.6 compression."""
    frame = payload + 40
    return payload / (frame + 4 + frame * escaped)


def rate_of(r: dict) -> float:
    return r["bytes"] / r["seconds"] if r["seconds"] > 0 else 0.0


def describe(label: str, baud: int, r: dict) -> str:
    line_rate = baud / 10  # octets per second on an 8N1 line
    rate = rate_of(r)
    mb = r["bytes"] / 1e6
    cpu = r.get("cpu", float("nan"))
    cpu_per_mb = cpu / mb if mb > 0 else float("nan")
    cpu_share = cpu / r["seconds"] * 100 if r["seconds"] > 0 else float("nan")
    return (f"{label:34} {baud:>7} baud: {rate:7.0f} B/s = {rate / line_rate * 100:5.1f} % of line rate; "
            f"daemon CPU {cpu:.2f} s for {mb:.3f} MB = {cpu_per_mb:.2f} s/MB, {cpu_share:.1f} % of one core"
            + evidence_text(label, r.get("tcp", {})))


def evidence_text(label: str, tcp: dict) -> str:
    """One indented line of TCP state from the namespace side (see :func:`tcp_info`)."""
    if not tcp:
        return ""
    nan = float("nan")
    if label.startswith("upload"):
        parts = [f"slirp's window {tcp.get('snd_wnd', nan):.0f} B",
                 f"srtt {tcp.get('rtt', nan):.0f} ms (min {tcp.get('minrtt', nan):.1f} ms)",
                 f"ACKs from slirp {tcp.get('segs_in_per_s', nan):.1f}/s",
                 f"data segments sent {tcp.get('data_segs_out_per_s', nan):.0f}/s (one flow)"]
    else:
        size = tcp.get("rcvmss", nan)
        parts = [f"segments from slirp {size:.0f} B (framing ceiling {framing_ceiling(size) * 100:.1f} %)",
                 f"data segments in {tcp.get('data_segs_in_per_s', nan):.0f}/s"]
    return "\n    tcp (ss -tin in the namespace): " + ", ".join(parts)


_SEND = re.compile(r"^(>> |sent \[)")
_RECV = re.compile(r"^(<< |rcvd \[)")


def bringup_split(records: list[dict]) -> dict:
    """Split bring-up time into ours and the modem's from the ``--trace`` records.

    The first trace line is the first byte to the modem. A gap that ends with a line or frame we send
    (or with ppp0 configured) after something was received is ours; a gap that ends with something
    received is the modem's (or its PPP peer's). Gaps between two sends are ours too.
    """
    ours = theirs = 0.0
    prev: float | None = None
    first = None
    for record in records:
        ts = record.get("ts")
        if ts is None:
            continue
        message = str(record.get("message", ""))
        if record.get("step") == "trace":
            kind = "send" if _SEND.match(message) else "recv" if _RECV.match(message) else None
        elif record.get("step") == "up":
            kind = "up"
        else:
            continue
        if kind is None:
            continue
        if prev is not None:
            if kind == "recv":
                theirs += ts - prev
            else:
                ours += ts - prev
        else:
            first = ts
        prev = ts
        if kind == "up":
            break
    total = (prev - first) if prev is not None and first is not None else float("nan")
    return {"ours": ours, "theirs": theirs, "total": total}


NOTES = [
    "#",
    "# What limits the numbers (slirp 1.0.17 is the network-side peer; evidence: the tcp lines above):",
    "# - ACCM: slirp's LCP Configure-Request has no ACCM option, so by RFC 1662 section 7.1 every octet",
    "#   below 0x20 we send must be escaped: 34 of every 256 octets of this pattern (row 'upload, slirp",
    "#   default map'). The simulator starts slirp with 'asyncmap 0' for the other rows (what pppd and",
    "#   most modems ask for, and the premise of the issue's 96 % framing limit).",
    "# - Download, namespace connecting out: slirp 1.0.17 processes a proxied SYN's options only after its",
    "#   own connect() to the host completes, and that path (tcp_input.c, cont_conn) has lost the options",
    "#   pointer, so the MSS we announce is never seen and slirp keeps its default t_maxseg of 512:",
    "#   ceiling ~91.4 %. When the host connects in (slirp's redir), slirp reads our SYN-ACK's MSS 1460.",
    "# - Upload, one flow: slirp delays every ACK of in-order data to its 200 ms fast timer (tcp_input.c",
    "#   header prediction; the 'ACK now' branch is commented out in 1.0.17) and advertises a fixed 8760",
    "#   octet window (8 KB socket buffer rounded to the MSS), so one flow moves at most ~8760 B per",
    "#   0.2 s = ~44 KB/s: ~47 % of 921600. Neither is settable. Three flows fill the line: our path is",
    "#   not the limit. At 115200 the window is 0.76 s of line time, so one flow is enough (three flows",
    "#   there only queue 26 KB = 2.3 s in the simulator's pacer and trip TCP's retransmission timer).",
    "# - The slirp select() shim caps slirp's sleeps at 2 ms (its -b throttle leaves queued tty output",
    "#   otherwise: 921600 download 17 % with a 0.5 s cap) and the simulator raises slirp's per-turn tty",
    "#   write cap (towrite_max 512 -> 4096; ~70 % -> ~91 % at 921600).",
    "# - Daemon CPU follows wake-ups more than octets: the simulator releases line bytes every ~10 ms, so",
    "#   the daemon wakes ~100 times a second at either rate, and a 115200 download costs about as much",
    "#   CPU per second as a 921600 one. On this VM a bare asyncio loop reading 115 octets from a pty 100",
    "#   times a second already costs 1-2 % of a core (100-230 us per wake-up): that is the floor under the",
    "#   figure. Upload is cheaper (TUN packets are framed up to 16 per wake-up).",
    "# - CPU figures swing up to 2x between runs on this shared 2-core machine (a Firecracker VM; other",
    "#   jobs ran); see the load averages and the core-speed line: the same loop ran 1.1-1.7 s during this",
    "#   session, where a current desktop core needs about a tenth of that, and the daemon's CPU share scales",
    "#   with it. The daemon stays at 2.5-3x the wake-up floor; halving its serial wake-ups (the read",
    "#   holdoff) did not move the share measurably here.",
    "# - LTE-class row: no --baud, so the simulator paces nothing and starts slirp with '-b 1000000000' and",
    "#   'towrite_max 65536' (slirp's built-in 115200 throttle and the 4096-octet per-turn cap held an",
    "#   'unpaced' run to 11 KB/s before). Four flows, host -> namespace through slirp's redir. pppos-up,",
    "#   slirp, pppos-sim and the Python sender/receiver share the machine's 2 cores, so the MB/s is a floor",
    "#   for the path, and CPU per MB (CPU seconds over the window / MB) is the figure to compare.",
]


def cpu_share(r: dict) -> float:
    """The daemon's CPU time over the counting window, in % of one core."""
    return r.get("cpu", float("nan")) / r["seconds"] * 100 if r["seconds"] > 0 else float("nan")


def line_targets(rows: dict[tuple[str, int], dict], bringup: dict | None,
                 cpu_runs: dict[int, list[float]]) -> list[str]:
    """The issue's targets, each judged on the row it names."""
    out = ["", "## targets (issue 5)"]
    for baud in sorted({b for _, b in rows}):
        line_rate = baud / 10
        for label in ("upload", "upload x3", "download", "download, ns connects"):
            r = rows.get((label, baud))
            if r is None:
                continue
            share = rate_of(r) / line_rate * 100
            verdict = "met" if share >= 93 else "NOT MET"
            out.append(f"goodput {label} at {baud}: {share:.1f} % (target >= 93 %): {verdict}")
        if baud in cpu_runs:
            median = statistics.median(cpu_runs[baud])
            out.append(f"daemon CPU at {baud}, download with the line full: median {median:.1f} % of one core over "
                       f"five runs (target <= 5 %): {'met' if median <= 5 else 'NOT MET'}")
    if bringup:
        out.append(f"bring-up, our own time: {bringup['ours'] * 1000:.0f} ms of {bringup['total'] * 1000:.0f} ms "
                   f"(target <= 100 ms): {'met' if bringup['ours'] <= 0.1 else 'NOT MET'}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.child)
    if os.geteuid() != 0:
        print("goodput_bench: needs root (network namespaces, TUN)", file=sys.stderr)
        return 10
    workdir = Path(f"/tmp/pppos-goodput-{os.getpid()}")
    lines = [
        f"# pppos goodput benchmark, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"# host: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start, "
        f"Python {platform.python_version()}",
        "# path: socket -> ppp0 -> pppos-up -> pty -> pppos-sim --baud B (paced, 8N1) -> slirp -> 127.0.0.1; "
        f"warm-up {WARMUP} s, window {', '.join(f'{w:g} s at {b}' for b, w in WINDOWS.items())}; "
        "TCP payload octets at the receiver",
    ]
    chosen = os.environ.get("GOODPUT_BAUDS", "115200,921600,lte").split(",")
    bauds = tuple(int(b) for b in chosen if b != "lte")
    quick = bool(os.environ.get("GOODPUT_QUICK"))
    bringup = None
    if not quick and bauds:
        session = Session(workdir / "unpaced", None, trace=True)
        try:
            up = session.up_record
            bringup = bringup_split(session.records())
            lines.append(f"bring-up on the unpaced simulator with --trace: {up['seconds']:.3f} s wall from the first "
                         f"byte to ppp0 configured; ours {bringup['ours'] * 1000:.0f} ms, the modem and its PPP peer "
                         f"{bringup['theirs'] * 1000:.0f} ms; daemon CPU {up.get('cpu_seconds', float('nan')):.3f} s")
        finally:
            session.close()
    rows: dict[tuple[str, int], dict] = {}
    cpu_runs: dict[int, list[float]] = {}
    for baud in bauds:
        window = WINDOWS.get(baud, 4.0)
        session = Session(workdir / str(baud), baud)
        try:
            lines.append(f"bring-up at {baud} baud (paced): {session.up_record['seconds']:.3f} s wall, "
                         f"{session.up_record.get('cpu_seconds', float('nan')):.3f} s daemon CPU")
            variants = [("upload", functools.partial(upload, window=window)),
                        ("upload x3", functools.partial(upload, window=window, flows=3)),
                        ("download", functools.partial(download, window=window)),
                        ("download, ns connects", functools.partial(download_outbound, window=window))]
            if baud < 921600:
                del variants[1]  # one flow already fills the line (see the notes)
            for label, run in variants:
                rows[(label, baud)] = run(session)
                lines.append(describe(label, baud, rows[(label, baud)]))
            if baud == 921600:
                # CPU shares swing 2-4x between single windows on this VM: judge on a median of five.
                shares = [cpu_share(rows[("download", baud)])]
                shares += [cpu_share(download(session, window)) for _ in range(4)]
                cpu_runs[baud] = sorted(shares)
                lines.append(f"daemon CPU over five 921600 downloads: median {statistics.median(shares):.1f} % of one "
                             f"core (runs: {', '.join(f'{x:.1f}' for x in cpu_runs[baud])} %)")
        finally:
            session.close()
        if baud == 115200:
            session = Session(workdir / f"{baud}-default-map", baud, accm0=False)
            try:
                r = upload(session, window)
                lines.append(describe("upload, slirp default map", baud, r))
            finally:
                session.close()
    if "lte" in chosen:
        session = Session(workdir / "lte", None)
        try:
            lines.append(describe_lte(download_flows(session, LTE_WINDOW, LTE_FLOWS)))
        finally:
            session.close()
    lines.append(f"# core speed: a 2,000,000-iteration Python addition loop takes {core_speed():.0f} ms of CPU here "
                 "(best of three)")
    share, rate = wakeup_floor()
    lines.append(f"# wake-up floor on this machine: a bare asyncio loop reading a pty fed every 10 ms uses "
                 f"{share:.1f} % of one core ({rate:.0f} wake-ups/s, {share / 100 / rate * 1e6:.0f} us each)")
    with contextlib.suppress(OSError):
        RUN_BASE.rmdir()  # each session removed its own run directory
    lines.append(f"# load average at end: {os.getloadavg()[0]:.2f}")
    lines += line_targets(rows, bringup, cpu_runs)
    lines += NOTES
    text = "\n".join(lines) + "\n"
    if not quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
