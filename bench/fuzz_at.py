"""AT fuzz bench (issue 12): a million seeded inputs through the AT engine and the 27.007 parsers
(every 25th also through a bring-up plan and the simulated modem); counts unhandled exceptions and
watches the process's memory. Writes bench/results/fuzz_at.txt.

    python bench/fuzz_at.py [--inputs 1000000] [--seed 12]

The input generator and the targets are those of the CI test (tests/at/fuzz_at_inputs.py), which
runs 20,000 of them.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.at.fuzz_at_inputs import fuzz  # noqa: E402


def _rss_kib() -> int:
    """The current resident set size in KiB (from /proc; the peak from getrusage elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz_at.txt")
    args = parser.parse_args()

    samples: list[tuple[int, int]] = []
    start = time.monotonic()

    def progress(i: int) -> None:
        if i % 100_000 == 0:
            samples.append((i, _rss_kib()))
            print(f"  {i:>9,} inputs, RSS {samples[-1][1] / 1024:.1f} MiB, {time.monotonic() - start:.0f} s",
                  file=sys.stderr)

    report = fuzz(args.inputs, seed=args.seed, progress=progress)
    elapsed = time.monotonic() - start
    samples.append((args.inputs, _rss_kib()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0
    lines = [
        "AT fuzz bench (bench/fuzz_at.py; generator and targets: tests/at/fuzz_at_inputs.py)",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; python {platform.python_version()}; "
        f"seed {args.seed}",
        f"inputs: {report.inputs:,}",
        "target runs: " + ", ".join(f"{name} {count:,}" for name, count in report.per_target.items()),
        f"unhandled exceptions: {report.exceptions}",
        f"time: {elapsed:.0f} s ({report.inputs / elapsed:,.0f} inputs/s)",
        "memory (RSS): " + ", ".join(f"{i // 1000}k {kib / 1024:.1f} MiB" for i, kib in samples),
        f"peak RSS {peak / 1024:.1f} MiB; growth from 100k to the end {growth / 1024:.1f} MiB",
    ]
    for trace in report.first:
        lines.append("first exception:\n" + trace)
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return 0 if report.exceptions == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
