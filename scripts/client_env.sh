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
# Needs:  python3.11 and access to a package index (PyPI or a mirror), once.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIMGEN_CLIENTS_VENV:-$ROOT/.venv-clients}"
PY="${PYTHON:-python3.11}"

# Pinned client versions. torch/torchvision match simgen's test env so the pip cache is
# reused; numpy<2 like simgen (bpy pins it).
REQS=(
    "fiftyone==1.22.1"
    "ultralytics==8.4.190"
    "torch==2.5.1"
    "torchvision==0.20.1"
    "numpy<2"
)
OPENCV="opencv-python-headless==4.11.0.86"
STAMP="$VENV/.simgen-clients"
WANT="$(printf '%s\n' "${REQS[@]}" "$OPENCV")"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/python" ]]; then
    echo "client env up to date: $VENV"
    exit 0
fi

echo "building client env in $VENV (takes a few minutes)"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# CPU wheels of torch are enough (the checks only read files); the default index's CUDA
# build also works but is larger.
"$VENV/bin/python" -m pip install "${REQS[@]}"
# Ultralytics depends on opencv-python (GUI build, needs libGL). Replace it with the
# headless build of the same module so the env imports cv2 on machines without libGL.
"$VENV/bin/python" -m pip uninstall -y -q opencv-python opencv-contrib-python 2>/dev/null || true
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$OPENCV"
FIFTYONE_DO_NOT_TRACK=true YOLO_OFFLINE=1 "$VENV/bin/python" - <<'EOF'
import cv2, fiftyone, ultralytics  # noqa: F401  (fails here, not in the tests)
print("client env ok: fiftyone", fiftyone.__version__, "ultralytics", ultralytics.__version__,
      "cv2", cv2.__version__)
EOF
printf '%s' "$WANT" > "$STAMP"
