#!/usr/bin/env bash
# Install pppos on a Debian 12 machine (run as root), into ./.venv.
#
#   bash scripts/install.sh --runtime   # a real modem: only what pppos-up and blynk-client need at run time
#   bash scripts/install.sh             # the demo and the tests: the runtime part plus every test tool
#
# Runtime: python3-venv and ca-certificates (Blynk's TLS); pip: this package alone (pyserial, pyroute2;
# no compiler needed). Add `apt-get install ppp` for `--backend pppd`.
# Tests and demo, in addition: slirp (the simulated modem's network side), gcc (builds slirp's select()
# shim), iproute2 (network namespaces), qemu-system-x86 + busybox-static + the Debian kernel/ppp packages
# fetched by tests/vm (real pppd in a VM), curl (an unmodified client), ppp (pppd and chat for the pppd
# backend), openssl, systemd (systemd-analyze verifies the shipped units), systemd-container
# (systemd-nspawn boots systemd in a throwaway container: tests/e2e/test_systemd_boot.py); pip: the test
# extra (pytest, ruff, scapy, anycrc, the reference Blynk libraries).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=test
case "${1:-}" in
    --runtime) MODE=runtime ;;
    --test|"") MODE=test ;;
    *) echo "usage: bash scripts/install.sh [--runtime|--test]" >&2; exit 2 ;;
esac

RUNTIME_APT=(python3-venv ca-certificates)
TEST_APT=(slirp gcc libc6-dev iproute2 curl ppp qemu-system-x86 busybox-static xz-utils openssl systemd
          systemd-container)
APT_PACKAGES=("${RUNTIME_APT[@]}")
if [ "$MODE" = test ]; then
    APT_PACKAGES+=("${TEST_APT[@]}")
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install.sh: installing ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
else
    echo "install.sh: not root or no apt-get: skipping system packages (${APT_PACKAGES[*]})" >&2
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if [ "$MODE" = runtime ]; then
    .venv/bin/python -m pip install -q .
else
    .venv/bin/python -m pip install -q -e '.[test]'
fi
echo "install.sh: ready ($MODE): $(.venv/bin/python --version), commands in .venv/bin" >&2
