"""Measure the pppd reference VM's boot time (QEMU start to ``pppos-vm: ready``) under TCG.

Writes bench/results/vm_boot.txt (one line per run, with the 1-minute load average, since TCG time
scales with how busy the cores are). Usage: ``python bench/vm_boot.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.vm.build import build_vm
from tests.vm.conftest import ARG_SETS, base_files
from tests.vm.qemu import PppdVm, VmSpec, write_boot_result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    image = build_vm(log=lambda m: print(m, file=sys.stderr))
    times = []
    for _ in range(args.runs):
        with PppdVm(image, VmSpec(arg_sets=ARG_SETS, files=base_files())) as vm:
            vm.start()
            assert vm.boot_seconds is not None
            vm.wait_pppd("default")
            times.append(vm.boot_seconds)
            write_boot_result(vm.boot_seconds, note=f"load1={os.getloadavg()[0]:.1f} bench")
    print(f"boot to ready: median {statistics.median(times):.2f} s over {len(times)} runs "
          f"(min {min(times):.2f}, max {max(times):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
