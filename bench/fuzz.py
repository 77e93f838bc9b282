"""Fuzz every parser of peer input with a million inputs each; write bench/results/fuzz.txt.

Targets (see tests/ppp/fuzzing.py for the generators and the invariants checked after each input):

* ``hdlc``: line noise into :class:`pppos.ppp.hdlc.Deframer` (RFC 1662).
* ``link``: good-FCS LCP/IPCP/IPv6CP/PAP/CHAP frames into :meth:`pppos.ppp.link.PppLink.receive_data`,
  both roles, negotiating, authenticating and up.
* ``at``: real-modem answer pieces into the AT engine and the 27.007 parsers, every 25th also into a
  bring-up plan and the simulated modem (tests/at/fuzz_at_inputs.py; ``bench/fuzz_at.py`` runs it
  alone and writes bench/results/fuzz_at.txt).

Another target is one entry in :data:`TARGETS`: a callable ``(inputs, seed) -> result`` whose result
has ``inputs``, ``exceptions`` and ``failures`` (a list of ``(index, traceback, input_hex)``).

Each target runs in chunks of ``--chunk`` inputs (seed ``seed + chunk number``); the resident set
size is sampled after every chunk, so "bounded memory" is the growth from the first chunk to the last.
The CI budget (20,000 inputs per target) runs in tests/ppp/test_fuzz.py.

    python bench/fuzz.py                    # 1,000,000 per target, about a few minutes
    python bench/fuzz.py --inputs 100000 --targets link
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.at.fuzz_at_inputs import fuzz as fuzz_at  # noqa: E402
from tests.ppp.fuzzing import fuzz_hdlc, fuzz_link  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fuzz.txt"

#: name -> (inputs, seed) -> result with .inputs, .exceptions, .failures
TARGETS: dict[str, Callable[[int, int], Any]] = {
    "hdlc": lambda inputs, seed: fuzz_hdlc(inputs, seed=seed),
    "link": lambda inputs, seed: fuzz_link(inputs, seed=seed),
    "at": lambda inputs, seed: fuzz_at(inputs, seed=seed),
}


def _rss_kib() -> int:
    """Current resident set size in KiB (from /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_target(name: str, inputs: int, seed: int, chunk: int) -> dict[str, Any]:
    """Run one target in chunks; return counts, time and memory samples."""
    fn = TARGETS[name]
    done = exceptions = 0
    failures: list[tuple[int, str, str]] = []
    rss: list[int] = []
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    k = 0
    while done < inputs:
        n = min(chunk, inputs - done)
        result = fn(n, seed + k)
        done += result.inputs
        exceptions += result.exceptions
        failures.extend((done - result.inputs + i, tb, data) for i, tb, data in result.failures[:2])
        rss.append(_rss_kib())
        k += 1
    return {
        "target": name,
        "inputs": done,
        "exceptions": exceptions,
        "failures": failures[:5],
        "cpu": time.process_time() - cpu0,
        "wall": time.perf_counter() - wall0,
        "rss_first": rss[0],
        "rss_last": rss[-1],
        "rss_max": max(rss),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target (default 1,000,000)")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--chunk", type=int, default=50_000, help="inputs per chunk (memory is sampled per chunk)")
    p.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated: {', '.join(TARGETS)}")
    p.add_argument("--no-write", action="store_true", help="do not write bench/results/fuzz.txt")
    args = p.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        p.error(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}")
    lines = [
        f"# bench/fuzz.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"# python {platform.python_version()} on {platform.machine()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}, seed {args.seed}, chunk {args.chunk}",
        "",
        f"{'target':8} {'inputs':>10} {'exceptions':>10} {'cpu s':>8} {'inputs/s':>9} "
        f"{'RSS first':>10} {'RSS last':>9} {'RSS max':>8}  (KiB)",
    ]
    print("\n".join(lines), flush=True)
    bad = 0
    details: list[str] = []
    for name in names:
        r = run_target(name, args.inputs, args.seed, args.chunk)
        bad += r["exceptions"]
        line = (f"{name:8} {r['inputs']:>10,} {r['exceptions']:>10,} {r['cpu']:>8.1f} "
                f"{r['inputs'] / max(r['cpu'], 1e-9):>9,.0f} {r['rss_first']:>10,} {r['rss_last']:>9,} "
                f"{r['rss_max']:>8,}")
        print(line, flush=True)
        lines.append(line)
        for index, tb, data in r["failures"]:
            details += [f"## {name} input {index}", tb.rstrip(), f"input hex: {data}", ""]
    lines.append("")
    lines.append(f"unhandled exceptions: {bad}")
    lines += details
    if details:
        print("\n".join(details))
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text("\n".join(lines) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
