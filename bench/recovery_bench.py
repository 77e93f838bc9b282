"""Recovery times of ``pppos-up --persist``: for each fault kind, the time from the fault to the daemon
noticing it and to ppp0 carrying a TCP round trip again (median of 5), with the simulator's default
(realistic) latencies, next to the time the modem itself needs before it can dial again.

Path: ``pppos-sim --profile a7`` (default latencies: boot, registration, attach, dial) on the host with
slirp as the network, ``pppos-up LINK --apn internet --persist --default-route`` in a throwaway
namespace (daemon defaults, except ``--lcp-echo 2,3``: a mute or silently rebooted modem can only be
noticed by LCP echoes, and the default 30,4 would make those rows minutes long), an echo server on the
host's 127.0.0.1 reached through ppp0 as 10.0.2.2.

Each measurement starts a fresh simulator and a fresh daemon, waits for ppp0 to carry a round trip and
then ``MIN_UP`` + 0.5 s more (a session that stayed up that long worked: its loss redials at once; a
shorter one would be a failed attempt with its holdoff, ``--holdoff`` 1 s +-25 %), injects the fault
(over the simulator's control socket, or by killing a process), then

- *noticed*: the daemon's first warning record after the fault (its JSON log's timestamp);
- *usable*: the first successful round trip through ppp0 afterwards (polled every 20 ms);
- *modem ready*: when the simulated modem can dial again, from its latencies (the fault's own length,
  plus boot and registration where the fault reboots or deregisters it); *usable - ready* is what the
  daemon adds: the holdoff, the AT bring-up, the modem's dial latency, PPP and interface set-up.

Run as root: ``python bench/recovery_bench.py`` (writes bench/results/recovery.txt; about 18 minutes).
``RECOVERY_RUNS=1`` for a quick look (does not write the file); ``RECOVERY_KINDS=carrier,reboot`` picks
rows. Needs slirp, gcc and iproute2. Never touches the host's routes or resolver.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pppos.cli.sim import LATENCIES  # noqa: E402
from pppos.session import MIN_UP  # noqa: E402
from tests.e2e.fault_rig import FaultRig, round_trip  # noqa: E402
from tests.e2e.harness import HostServers, UpProcess  # noqa: E402
from tests.netns import make_netns  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "recovery.txt"
RUNS = int(os.environ.get("RECOVERY_RUNS", "5"))
MUTE = 10.0  # longer than the echo detection (2 s x 3): a shorter freeze is never a loss
VANISH = 3.0
REG_LOST = 3.0
RESTART_GAP = 1.0
UP_ARGS = ("--lcp-echo", "2,3")
#: the sim's latencies (seconds): what the modem needs before it can dial after each kind of fault
BOOT, REG, DIAL = LATENCIES["boot"], LATENCIES["registration"], LATENCIES["dial"]


@dataclass
class Sample:
    noticed: float
    usable: float
    ready: float
    holdoff: float


def _inject(rig: FaultRig, kind: str) -> tuple[float, float]:
    """Cause the fault; return (wall time of the fault, seconds after it until the modem can dial)."""
    if kind == "carrier":
        return rig.fault("carrier"), 0.0
    if kind == "terminate":
        return rig.fault("terminate"), 0.2  # the network hangs up 0.2 s after our Terminate-Ack
    if kind == "slirp killed":
        t = time.time()
        rig.kill_slirp()
        return t, 0.0
    if kind == f"mute {MUTE:g} s":
        return rig.fault("mute", str(MUTE)), MUTE
    if kind == "reboot":  # the simulated SIM (no PIN) is ready at power-on: it registers while booting
        return rig.fault("reboot"), max(BOOT, REG)
    if kind == f"usb vanish {VANISH:g} s":
        return rig.fault("vanish", str(VANISH)), VANISH + max(BOOT, REG)
    if kind == f"registration lost {REG_LOST:g} s":
        return rig.fault("reg-lost", str(REG_LOST)), REG_LOST + REG
    if kind == "simulator killed, restarted":
        t = time.time()
        rig.kill_sim(signal.SIGKILL)
        time.sleep(RESTART_GAP)
        rig.start_sim()  # a restarted simulator's modem was powered BOOT s before: registered REG - BOOT s later
        return t, time.time() - t + max(0.0, REG - BOOT)
    if kind == "stuck modem":
        rig.fault("stuck")
        return rig.fault("carrier"), float("nan")  # ready only once the daemon cycled the radio
    raise ValueError(kind)


KINDS = ("carrier", "terminate", "slirp killed", f"mute {MUTE:g} s", "reboot", f"usb vanish {VANISH:g} s",
         f"registration lost {REG_LOST:g} s", "simulator killed, restarted", "stuck modem")


def measure(kind: str, ns, servers: HostServers, workdir: Path) -> Sample:
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("run", "pppos-up.log", "sim.log"):
        path = workdir / stale
        if path.is_file():
            path.unlink()
    (workdir / "resolv.conf").write_bytes(b"nameserver 192.0.2.53\n")
    rig = FaultRig(ns, workdir, servers.echo_port, sim_args=(), start_up=False)
    rig.up = UpProcess(ns, workdir, str(rig.link), "--apn", "internet", "--persist", "--default-route",
                       "--log-format", "json", *UP_ARGS)
    try:
        rig.usable(timeout=120)
        time.sleep(MIN_UP + 0.5)  # the session worked (pppos.session.MIN_UP): its loss redials at once
        t0, ready_after = _inject(rig, kind)
        noticed = _wait_record(rig, t0, lambda r: r.get("level") == "warning")
        deadline = time.monotonic() + 300
        while not round_trip(ns, servers.echo_port, timeout=2.0):
            if time.monotonic() > deadline or (rig.up.proc.poll() is not None):
                raise SystemExit(f"{kind}: ppp0 not usable again:\n{rig.up.log[-3000:]}")
            time.sleep(0.02)
        usable = time.time()
        holdoff_rec = rig.first_record_after(t0, lambda r: r.get("step") == "holdoff")
        holdoff = 0.0
        if holdoff_rec is not None:
            with contextlib.suppress(ValueError, IndexError):
                holdoff = float(holdoff_rec["message"].split()[1])
        if kind == "stuck modem":
            radio = rig.first_record_after(t0, lambda r: "radio off/on" in r.get("message", "")
                                           and r.get("step") == "recovery")
            ready_after = (radio["ts"] - t0 + REG) if radio else float("nan")
        return Sample(noticed=noticed - t0, usable=usable - t0, ready=ready_after, holdoff=holdoff)
    finally:
        rig.close()


def _wait_record(rig: FaultRig, t0: float, predicate: Callable[[dict], bool], timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = rig.first_record_after(t0, predicate)
        if record is not None:
            return float(record["ts"])
        time.sleep(0.02)
    raise SystemExit(f"the daemon never noticed the fault:\n{rig.up.log[-3000:] if rig.up else ''}")


NOTES = [
    '# What the rows show (each fault 10.5 s after ppp0 came up: a session that worked, redialled at once):',
    "# - 'modem ready': when the simulated modem can dial again: at once after a carrier loss or a killed",
    "#   slirp, 0.2 s after our Terminate-Ack, at the end of a mute, max(boot, registration) = 3 s after a",
    '#   reboot (the SIM has no PIN: it registers while booting), the port back + 3 s after a USB vanish,',
    '#   the fault + registration 2 s after registration loss, the restart for a restarted simulator (its',
    "#   modem starts booted and registered), the radio off/on rung's start + registration for a stuck modem.",
    "# - carrier loss, killed slirp, peer Terminate: 'usable - ready' is the modem's dial latency 0.5 s plus",
    '#   PPP and the interface (~0.05 s): no holdoff, since the session had worked (pppos.session.MIN_UP).',
    '# - mute: noticed by LCP echoes (2 s x 3) at 7.5 s, while the modem is still mute. The hang-up drops',
    '#   DTR, sends +++ after the guard time (the grace already waited for NO CARRIER counts toward it) and',
    "#   gets no OK: it then probes (LCP Terminate-Request + AT every 0.1 s) instead of an ATH with a 5 s",
    '#   timeout into a call that is still up; the first probe after the thaw reaches the network peer,',
    "#   which acks and ends the call (NO CARRIER ~0.2 s later), then the redial's dial latency 0.5 s.",
    "# - reboot, usb vanish, registration lost, restarted simulator: after 'ready' the bring-up finds the",
    '#   modem not attached (AT+CGATT? 0: the simulated modem attaches only on AT+CGATT=1, 0.5 s, or',
    '#   within ATD) and attaches before it dials: attach 0.5 s + dial 0.5 s + ~0.05 s is the floor of',
    "#   these rows, 'ready' does not count the attach. The sync meets a booting modem that drops input",
    "#   and wakes on its first boot message (also during the blind +++ escape), so it answers at 'ready'.",
    '#   The restarted simulator adds the port poll (0.25 s) and the simulator start.',
    "# - stuck modem: the redial gets ERROR (a failed attempt): holdoff 1 s, detach/re-attach (still",
    "#   ERROR), holdoff 2 s, radio off/on: ready = that rung's start + registration. After 'ready' come",
    '#   the rung\'s fixed 1 s pause between AT+CFUN=0 and AT+CFUN=1 (RecoveryPlan.radio_pause, ours, kept:',
    '#   not investigated whether real modems need it), then attach 0.5 s and dial 0.5 s.',
    "# - rows over 1 s: none of the gap is a holdoff or a timer started against a silent modem any more;",
    "#   what is left is the simulated modem's attach + dial (1.0 s) after it rebooted or re-registered,",
    "#   the port poll for a restarted simulator, and the radio rung's pause.",
]


def main() -> int:
    if os.geteuid() != 0:
        print("recovery_bench: needs root (network namespaces, TUN)", file=sys.stderr)
        return 10
    chosen = os.environ.get("RECOVERY_KINDS")
    kinds = [k for k in KINDS if not chosen or any(k.startswith(c) for c in chosen.split(","))]
    workdir = Path(f"/tmp/pppos-recovery-{os.getpid()}")
    lines = [
        f"# pppos recovery benchmark, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"# host: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start, "
        f"Python {platform.python_version()}",
        "# pppos-sim --profile a7 (default latencies: " + ", ".join(f"{k} {v:g} s" for k, v in LATENCIES.items())
        + ") -> slirp; pppos-up --apn internet --persist --default-route " + " ".join(UP_ARGS)
        + " (other options at their defaults: holdoff 1 s +-25 % for failed attempts) in a namespace; "
        f"median of {RUNS}; a fresh simulator and daemon for each measurement, the fault {MIN_UP + 0.5:g} s "
        f"after ppp0 is usable (a session up {MIN_UP:g} s redials at once after its loss)",
        f"# the simulator's own bring-up time: boot {BOOT:g} s + registration {REG:g} s + dial {DIAL:g} s = "
        f"{BOOT + REG + DIAL:g} s from power-on to CONNECT; a redial alone is its dial latency {DIAL:g} s",
        "",
        f"{'fault':<30} {'noticed':>9} {'usable':>9} {'modem ready':>12} {'usable-ready':>13} {'holdoff':>8}",
    ]
    results: dict[str, list[Sample]] = {}
    with HostServers() as servers, make_netns("pppos-recovery") as ns:
        for kind in kinds:
            samples = []
            for run in range(RUNS):
                samples.append(measure(kind, ns, servers, workdir / f"{len(results)}-{run}"))
            results[kind] = samples
            med = {f: statistics.median(getattr(s, f) for s in samples) for f in ("noticed", "usable", "ready",
                                                                                    "holdoff")}
            lines.append(f"{kind:<30} {med['noticed']:8.3f}s {med['usable']:8.2f}s {med['ready']:11.2f}s "
                         f"{med['usable'] - med['ready']:12.2f}s {med['holdoff']:7.2f}s")
            print(lines[-1], flush=True)
    lines += [
        "",
        "# reference: pppd with 'persist' and its defaults (ppp-and-modems.md 2.3): holdoff 30 s before every",
        "#   redial (not applied after a modem hang-up), lcp-echo-interval 0 (no keepalive: a mute modem or a",
        "#   dead peer is never noticed), maxfail 10. A lost call is noticed only through the modem's hang-up",
        "#   (DCD with 'modem' and a wired DCD line; a USB modem's ACM port has none): the issue measured 146 s",
        "#   to notice a killed slirp with pppos-up's old echo-only detection and 15.4 s median back under an",
        "#   external restart loop.",
        "",
        "## targets (issue 10)",
    ]
    if "carrier" in results:
        noticed = statistics.median(s.noticed for s in results["carrier"])
        lines.append(f"carrier loss noticed in {noticed * 1000:.0f} ms (target <= 100 ms): "
                     f"{'met' if noticed <= 0.1 else 'NOT MET'}")
    for kind, samples in results.items():
        gap = statistics.median(s.usable - s.ready for s in samples)
        holdoff = statistics.median(s.holdoff for s in samples)
        lines.append(f"{kind}: ppp0 usable {gap:.2f} s after the modem could dial again (target <= 1 s): "
                     f"{'met' if gap <= 1.0 else 'NOT MET'}; without the holdoff ({holdoff:.2f} s) "
                     f"{gap - holdoff:.2f} s, the modem's dial latency {DIAL:g} s included")
    lines.append(f"# load average at end: {os.getloadavg()[0]:.2f}")
    lines += NOTES
    shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    if RUNS >= 5 and not chosen:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
