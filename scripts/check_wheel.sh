#!/usr/bin/env bash
# simgen as users install it, not as a checkout: build the wheel, install it (with its declared
# dependencies, no extras) into a fresh virtual environment, and from a folder outside the
# repository run `simgen --help` and `simgen study --help` (the shipped studies listed), render
# one frame of the default job, check it, and import every module that needs no extra; then the
# same for `pip install .` from the repository.
# CI runs it after the suite (.ci/run). About a minute with a warm pip cache; ~1.2 GB per venv.
#   usage: bash scripts/check_wheel.sh [PYTHON]     (default python3.11)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check_install() {  # $1: the venv; renders and imports from $work/run, outside the repository
    local venv=$1 run=$work/run-$(basename "$1")
    mkdir -p "$run"
    cd "$run"
    "$venv/bin/simgen" --help > help.txt
    grep -q "Config groups" help.txt
    "$venv/bin/simgen" study --help > study.txt  # the studies are package data (configs/study/)
    grep -q "dr_gap" study.txt
    "$venv/bin/simgen" output.dir="$run/ds" frames=1 render.width=64 render.height=48 render.samples=1 \
        render.device=cpu > render.txt 2>&1 || { cat render.txt; exit 1; }
    for f in dataset.json coco.json images/000000.png instance/000000.png depth/000000.npy meta/000000.json; do
        [ -s "$run/ds/$f" ] || { echo "check_wheel: $venv: the frame lacks $f"; exit 1; }
    done
    # every module but the extras' (simgen.torch, and the Ultralytics script run by another interpreter)
    "$venv/bin/python" - <<'EOF'
import importlib, pkgutil, sys
import simgen
from pathlib import Path
names = [m.name for m in pkgutil.walk_packages(simgen.__path__, "simgen.")
         if not m.name.startswith("simgen.torch") and m.name != "simgen.experiment.yolo_trainer"]
for name in names:
    importlib.import_module(name)
assert Path(simgen.__file__).parent.parent.name == "site-packages", simgen.__file__
print(f"check_wheel: {len(names)} modules import from {Path(simgen.__file__).parent}")
EOF
    cd "$repo"
}

# Built from a copy of the checkout's files (tracked, and new ones git does not ignore): pip
# builds in the source folder, and .ci/run checks the extras (editable installs of the checkout)
# at the same time.
src=$work/src
mkdir -p "$src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$src"
"$python" -m venv "$work/build"
"$work/build/bin/pip" install -q "setuptools>=70.1" "wheel"
"$work/build/bin/pip" wheel -q --no-deps --no-build-isolation -w "$work/dist" "$src"
wheel=$(ls "$work"/dist/simgen-*.whl)
echo "check_wheel: built $(basename "$wheel")"

"$python" -m venv "$work/wheel-venv"
"$work/wheel-venv/bin/pip" install -q "$wheel"
check_install "$work/wheel-venv"
echo "check_wheel: the wheel installs, answers --help and renders outside the repository"

"$python" -m venv "$work/source-venv"
"$work/source-venv/bin/pip" install -q "$src"
check_install "$work/source-venv"
echo "check_wheel: pip install . does too"
