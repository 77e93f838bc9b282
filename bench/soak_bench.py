"""Long soak of ``pppos-up --persist``: a thousand mixed faults in real time, and the daemon's
resources after every hundred: does anything grow in a service left alone for months?

Path: the rig of tests/e2e/test_faults.py (``pppos-sim --fast`` on the host with slirp as the network,
``pppos-up LINK --apn internet --persist --default-route`` in a throwaway namespace, a TCP echo round
trip through ppp0 to the host's 127.0.0.1 as the proof that the link is usable). After each fault
(the CI soak's mix: carrier loss, a peer Terminate, slirp killed, the USB port vanishing, registration
lost, a PDP rejection) the bench waits for ppp0 to carry a round trip again, and at every checkpoint
reads the daemon's resident memory (``VmRSS``/``VmHWM``), its open fds, its child processes and its
asyncio task count (from the state file), and the reconnects it counted.

Verdict: after the first checkpoint (the warm-up: every code path has run once), the fds, children
and tasks must not change and the RSS must not grow by more than :data:`RSS_SLACK_KIB` over the rest
of the run (a leak of even 1 KiB per fault would show as ~1 MiB).

Run as root: ``python bench/soak_bench.py`` (writes bench/results/soak.txt; about 35 minutes for
1,000 faults). ``SOAK_FAULTS=200`` for a shorter run (written only for the full 1,000). Needs slirp,
gcc and iproute2. Never touches the host's routes or resolver.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.fault_rig import SOAK_MIX as MIX  # noqa: E402
from tests.e2e.fault_rig import FaultRig  # noqa: E402
from tests.e2e.harness import HostServers  # noqa: E402
from tests.netns import make_netns  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "soak.txt"
FAULTS = int(os.environ.get("SOAK_FAULTS", "1000"))
CHECKPOINT = max(1, FAULTS // 10)
#: Allowed RSS growth (KiB) from the first checkpoint to the last.
RSS_SLACK_KIB = 512
UP_ARGS = ("--holdoff", "0.05", "--holdoff-max", "0.2", "--lcp-echo", "1,3", "--usepeerdns")
RESOLV = b"# the namespace's own resolver file\nnameserver 192.0.2.53\n"
#: What the 2026-12-07 runs showed beyond the table (printed with every run's results).
NOTES = """
# notes
# - 'recovery' is bounded below by the rig's proof: a round trip counts only once the state file
#   (rewritten about once a second) says running, so ~1 s here; bench/recovery_bench.py measures the
#   daemon's own times (0.58 s after the modem can dial again for a carrier loss).
# - RSS creeps by ~1.2 KiB per fault (all fault kinds alike: 200 carrier-only, terminate-only,
#   slirp-only and vanish-only faults each added 250-320 KiB), but the daemon's live Python memory does
#   not: tracemalloc inside the daemon (a sitecustomize dumping snapshots on SIGUSR2) gave 20,319 KiB
#   after a 150-fault warm-up and 20,323 KiB 250 faults later (+4 KiB; pyroute2's bounded caches, its
#   AddrPool ban list of 255 and the interpreter's method cache, fill in the first ~100 faults), the
#   gc's object count is unchanged, and glibc's heap in use grew 53 KB over 300 faults (mallinfo2).
#   The growth is in pymalloc arenas (VmData +1 MiB per ~300 faults). tracemalloc alone points to
#   fragmentation, but 'py blocks' (sys.getallocatedblocks, in the state file) rises steadily,
#   ~10 blocks per fault through 2,000 faults, which points to small non-container objects being
#   kept: not reconciled yet (left open). It did not level off within 2,000 faults: at ~1.26 KiB per
#   reconnect a link that drops 10 times a day would add ~4.5 MiB a year.
"""


def _status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def _snapshot(rig: FaultRig, faults: int, started: float) -> dict[str, float]:
    assert rig.up is not None
    state = rig.state()
    mem = _status(rig.up.proc.pid)
    return {
        "faults": faults,
        "minutes": (time.monotonic() - started) / 60,
        "rss": mem["VmRSS"],
        "hwm": mem["VmHWM"],
        "fds": rig.fd_count(),
        "children": len(rig.children()),
        "tasks": int(state.get("tasks", -1)),
        "blocks": int(state.get("py_blocks", -1)),
        "reconnects": int(state.get("reconnects", -1)),
    }


def main() -> int:
    if os.geteuid() != 0:
        print("soak_bench: needs root (network namespaces, TUN)", file=sys.stderr)
        return 10
    workdir = Path(f"/tmp/pppos-soak-{os.getpid()}")
    workdir.mkdir(parents=True)
    (workdir / "resolv.conf").write_bytes(RESOLV)
    rng = random.Random(2026)
    kinds = [words for weight, words in MIX for _ in range(weight)]
    counts: dict[str, int] = {}
    recoveries: list[float] = []
    rows: list[dict[str, float]] = []
    failures: list[str] = []
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    with HostServers() as servers, make_netns("pppos-soak") as ns:
        rig = FaultRig(ns, workdir, servers.echo_port, sim_args=("--fast",), up_args=UP_ARGS)
        try:
            rig.usable()
            rig.settled()
            rows.append(_snapshot(rig, 0, started))
            print(rows[-1], flush=True)
            for n in range(1, FAULTS + 1):
                words = rng.choice(kinds)
                counts[words[0]] = counts.get(words[0], 0) + 1
                if words[0] == "pdp-reject":
                    rig.fault(*words)
                    t = rig.fault("carrier")
                elif words[0] == "kill-slirp":
                    t = time.time()
                    rig.kill_slirp()
                else:
                    t = rig.fault(*words)
                try:
                    back = rig.usable(timeout=60)
                except AssertionError as exc:
                    failures.append(f"fault {n} ({' '.join(words)}) not recovered within 60 s: {exc}")
                    break
                recoveries.append(back - t)
                if n % CHECKPOINT == 0:
                    rig.settled()
                    rows.append(_snapshot(rig, n, started))
                    print(rows[-1], flush=True)
        finally:
            status = rig.close()
    lines = [
        f"# pppos soak benchmark, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"# host: {platform.machine()}, {os.cpu_count()} CPUs, load average {load_start:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at the end; Python {platform.python_version()}",
        "# pppos-sim --fast -> slirp; pppos-up --apn internet --persist --default-route " + " ".join(UP_ARGS)
        + " in a namespace; one daemon for the whole run",
        f"# faults: {sum(counts.values())} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}); "
        f"each followed by a TCP round trip through ppp0",
        "",
        f"{'faults':>7} {'minutes':>8} {'VmRSS KiB':>10} {'VmHWM KiB':>10} {'fds':>5} {'children':>9} "
        f"{'tasks':>6} {'py blocks':>10} {'reconnects':>11}",
    ]
    for row in rows:
        lines.append(f"{row['faults']:7.0f} {row['minutes']:8.1f} {row['rss']:10.0f} {row['hwm']:10.0f} "
                     f"{row['fds']:5.0f} {row['children']:9.0f} {row['tasks']:6.0f} {row['blocks']:10.0f} "
                     f"{row['reconnects']:11.0f}")
    lines.append("")
    if recoveries:
        lines.append(f"recovery (fault to a round trip through ppp0): median {statistics.median(recoveries):.2f} s, "
                     f"max {max(recoveries):.2f} s, over {len(recoveries)} faults")
    lines.append(f"daemon exit status after SIGTERM: {status}")
    verdict_ok = not failures and len(rows) >= 3 and status == 0
    if len(rows) >= 3:
        warm, last = rows[1], rows[-1]
        growth = last["rss"] - warm["rss"]
        per_fault = growth / max(1, last["faults"] - warm["faults"])
        steady = all(r[k] == warm[k] for r in rows[1:] for k in ("fds", "children", "tasks"))
        verdict_ok = verdict_ok and steady and growth <= RSS_SLACK_KIB
        lines.append(f"RSS from fault {warm['faults']:.0f} to {last['faults']:.0f}: {growth:+.0f} KiB "
                     f"({per_fault * 1024:+.0f} B per fault; allowed {RSS_SLACK_KIB} KiB): "
                     f"{'flat' if growth <= RSS_SLACK_KIB else 'GROWS'}")
        lines.append(f"fds, children and tasks from fault {warm['faults']:.0f} on: "
                     f"{'unchanged' if steady else 'CHANGED'}")
    lines += failures
    lines.append(f"verdict: {'nothing grows, every fault recovered' if verdict_ok else 'NOT MET'}")
    lines.append(NOTES.rstrip())
    text = "\n".join(lines) + "\n"
    print(text)
    shutil.rmtree(workdir, ignore_errors=True)
    if FAULTS >= 1000:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
    return 0 if verdict_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
