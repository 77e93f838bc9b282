#!/usr/bin/env bash
# Set up (scripts/install.sh) and run the demo: a simulated A7 modem, ppp0 on our PPP stack in a
# throwaway network namespace, and a Blynk device logging in over it. Extra arguments go to pppos-demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/pppos-demo "$@"
