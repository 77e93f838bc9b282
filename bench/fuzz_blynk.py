"""Fuzz the Blynk core, both roles, with 1,000,000 inputs: ``python bench/fuzz_blynk.py [COUNT] [SEED]``.

The engine is ``tests/blynk/core_fuzz.py`` (the CI test runs the same engine on 20,000 inputs).
One input is one fuzzed session (role, starting state, 1-7 steps of hostile bytes, timers and
driver reactions). Writes ``bench/results/fuzz_blynk.txt``: the inputs, the byte streams fed, the
events the core produced by type, and every exception that escaped the core (must be none).
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results", "fuzz_blynk.txt")


def main(argv: list[str]) -> int:
    sys.path.insert(0, ROOT)
    from tests.blynk.core_fuzz import run

    count = int(argv[0]) if argv else 1_000_000
    seed = int(argv[1]) if len(argv) > 1 else 13
    started = time.time()
    result = run(count, seed)
    wall = time.time() - started
    lines = [
        f"# Blynk core fuzz, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"# engine tests/blynk/core_fuzz.py, seed {seed}, {wall:.0f} s wall",
        f"inputs (sessions): {result.inputs}",
        f"byte streams fed: {result.messages}",
        f"exceptions escaping the core: {result.failed}",
    ]
    for name, n in result.failures.most_common():
        lines.append(f"  {name}: {n}  e.g. {result.examples[name]}")
    lines.append("events produced:")
    for name, n in result.events.most_common():
        lines.append(f"  {name}: {n}")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as fh:
        fh.write(text)
    print(text, end="")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
