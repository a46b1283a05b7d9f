#!/usr/bin/env bash
# Headless Chromium for tests/test_inspect.py (renders `simgen inspect`'s HTML report and
# screenshots it; the test needs it installed and does not install it; .ci/run does). Needs
# root and Debian/Ubuntu (apt-get). Idempotent: does nothing when a chromium binary is
# already on PATH.
#
#   bash scripts/install_chromium.sh
set -euo pipefail

for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null && "$b" --version >/dev/null 2>&1; then
        echo "install_chromium.sh: $("$b" --version) already installed" >&2
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then echo "install_chromium.sh: needs root (apt-get)" >&2; exit 1; fi
exec 8>/var/lock/simgen-apt.lock  # one apt-get of simgen's scripts at a time
flock 8
echo "install_chromium.sh: installing chromium with apt-get ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
