#!/usr/bin/env bash
# Install everything pppos needs on a Debian 12 machine (run as root), into ./.venv.
#
#   bash scripts/install.sh          # system packages + .venv with pppos and its test tools
#
# System packages: slirp (the simulated modem's network side), gcc (builds slirp's select() shim),
# iproute2 (network namespaces for the end-to-end tests), qemu-system-x86 + busybox-static + the
# Debian kernel/ppp packages fetched by tests/vm (real pppd in a VM), curl (an unmodified client),
# ppp (pppd and chat for the pppd backend), python3-venv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(slirp gcc libc6-dev iproute2 curl ppp qemu-system-x86 busybox-static python3-venv
              ca-certificates xz-utils openssl)

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
.venv/bin/python -m pip install -q -e '.[test]'
echo "install.sh: ready: $(.venv/bin/python --version), commands in .venv/bin" >&2
