#!/usr/bin/env bash
# simgen alone, then every optional extra installed alone, doing what its docs show. First "core":
# the venv of simgen alone (`pip install -e .`, the README's install) runs scripts/check_core.py,
# a tiny frame or sequence of every recipe, option, label kind and format that needs no extra, a
# lens, a stereo rig, a rig, many views, a world of one's own, and the commands that render
# nothing: a module only the test extra brings can never again hide a crash. Then for each extra, a virtual
# environment with simgen and that extra only (`pip install -e '.[EXTRA]'`), and from a folder
# outside the repository the command its page gives, at a tiny size:
#   stream    simgen 'output.formats=[parquet]'                (docs/how-to/streaming.md), read back with pyarrow
#   cloud     simgen ... output.upload=s3://bucket/run         (docs/how-to/streaming.md), against a local S3
#             server (moto's, from the test environment .venv: a server, not part of the extra)
#   report    simgen inspect DIR                               (docs/how-to/inspect.md): its plots are drawn
#   torch     the DataLoader block of docs/reference/torch.md
#   cluster   simgen -m hydra/launcher=local 'shard.index=range(2)' shard.count=2  (docs/tutorials/cluster.md)
#   postgres  simgen fit ... fit.storage=postgresql+psycopg2://...  (docs/tutorials/fit.md), against the
#             server of scripts/postgres_local.sh (started beforehand: .ci/run does)
#   docs      mkdocs build --strict                            (docs/index.md)
#   people    simgen people prepare --library LIB, then a drawn body (docs/how-to/people.md); LIB starts
#             as a copy of $SIMGEN_PEOPLE_LIBRARY where that is prepared (CI's .people), else is built (5 min)
# An extra that lacks a dependency its command needs fails here, though the test extra (which
# brings them all) would pass. CI runs it (.ci/run) after the suite's set-ups.
#
# Each extra's environment starts as a hard-linked copy of one with simgen alone (installed
# once: bpy is 1.2 GB to unpack), into which pip then installs the extra: what `pip install -e
# '.[EXTRA]'` gives in a fresh venv, without unpacking bpy eight times. Nothing is changed in
# place (pip replaces files), so the copies leave each other alone.
#   usage: bash scripts/check_extras.sh [EXTRA ...]      (default: core and all eight; PYTHON=python3.11)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3.11}
extras=${*:-core stream cloud report torch cluster postgres docs people}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
tiny=(render.width=64 render.height=48 render.samples=1 render.denoise=false render.device=cpu output.previews=false)
say() { echo "check_extras: $*"; }
fail() { echo "check_extras: $extra: $*" >&2; exit 1; }
quiet() { "$@" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; fail "failed: $*"; }; }

check_stream() {
    quiet "$1/bin/simgen" output.dir="$run/ds" frames=2 'output.formats=[parquet]' "${tiny[@]}"
    "$1/bin/python" - "$run/ds" <<'EOF'
import sys
from pathlib import Path
import pyarrow.parquet as pq
files = sorted(Path(sys.argv[1], "parquet").glob("*.parquet"))
rows = sum(pq.read_table(f).num_rows for f in files)
assert files and rows == 2, (files, rows)
EOF
}

check_cloud() {
    local port
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$repo/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" > "$work/moto.log" 2>&1 &
    server=$!
    export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=check AWS_SECRET_ACCESS_KEY=check \
        AWS_DEFAULT_REGION=us-east-1
    for _ in $(seq 50); do "$python" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL')" \
        2>/dev/null && break; sleep 0.2; done
    "$1/bin/python" -c "import s3fs; s3fs.S3FileSystem().mkdir('extras')"
    quiet "$1/bin/simgen" output.dir="$run/ds" frames=2 'output.formats=[webdataset]' \
        output.upload=s3://extras/run1 "${tiny[@]}"
    "$1/bin/python" - <<'EOF'
import s3fs
names = {p.rsplit("/", 1)[-1] for p in s3fs.S3FileSystem().find("extras/run1")}
assert {"dataset.json", "shards.json"} <= names and any(n.endswith(".tar") for n in names), names
EOF
    kill "$server"; server=""
    unset AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION
}

check_report() {
    quiet "$1/bin/simgen" output.dir="$run/ds" frames=2 "${tiny[@]}"
    quiet "$1/bin/simgen" inspect "$run/ds" --frames 2 --jobs 1
    grep -q "data:image/svg+xml" "$run/ds/inspect.html" || fail "inspect.html has no plots"
    ! grep -q "id=\"no-plots\"" "$run/ds/inspect.html" || fail "inspect.html left its plots out"
}

check_torch() {
    quiet "$1/bin/simgen" output.dir="$run/ds" frames=2 "${tiny[@]}"
    "$1/bin/python" - "$run/ds" <<'EOF'
import sys
from torch.utils.data import DataLoader
from torchvision.transforms import v2
from simgen.torch import SimgenDataset, collate_detection
ds = SimgenDataset(sys.argv[1], transforms=v2.RandomHorizontalFlip())
image, target = ds[0]
images, targets = next(iter(DataLoader(ds, batch_size=2, collate_fn=collate_detection)))
assert len(images) == 2 and "boxes" in targets[0], targets[0].keys()
EOF
}

check_cluster() {
    quiet "$1/bin/simgen" -m hydra/launcher=local 'shard.index=range(2)' shard.count=2 output.dir="$run/ds" \
        frames=2 "${tiny[@]}"
    [ "$(ls "$run/ds/images" | wc -l)" -eq 2 ] || fail "the two shards did not write two frames"
}

check_postgres() {
    local url
    url=$(bash "$repo/scripts/postgres_local.sh" url)
    quiet "$1/bin/simgen" output.dir="$run/target" frames=2 "${tiny[@]}" scene.camera_distance=[2.5,3]
    quiet "$1/bin/simgen" fit target="$run/target/images" target_coco="$run/target/coco.json" \
        name="extras_$$" fit.out="$run/fit" fit.storage="$url" fit.frames=2 fit.trials=1 fit.startup_trials=1 \
        fit.prefit_trials=2 fit.develop_trials=4 fit.polish_trials=4 fit.final_frames=2 fit.max_images=2 \
        render.samples=1 "fit.space={scene: {camera_distance: {low: 0.5, high: 4, log: true}}}"
    [ -s "$run/fit/best.yaml" ] || fail "the fit wrote no best.yaml"
}

check_people() {
    local lib="$run/people"
    if [ -n "${SIMGEN_PEOPLE_LIBRARY:-}" ] && [ -f "$SIMGEN_PEOPLE_LIBRARY/simgen-people.json" ]; then
        cp -r "$SIMGEN_PEOPLE_LIBRARY" "$lib"   # prepared already (CI's .people): prepare finds nothing to do
    fi
    quiet "$1/bin/simgen" people prepare --library "$lib"
    "$1/bin/python" - "$lib" <<'EOF'
import sys
import numpy as np
from simgen.people.body import KEYPOINT_NAMES, PersonParams, body
from simgen.people.shape import draw_phenotype
b = body(PersonParams(phenotype=draw_phenotype(np.random.default_rng(0), age_years=(20, 60))), sys.argv[1])
assert b.vertices[:, 2].min() == 0 and 1.3 < b.vertices[:, 2].max() < 2.2, b.vertices[:, 2].max()
assert b.keypoints.shape == (len(KEYPOINT_NAMES), 3)
EOF
}

check_docs() {
    cd "$repo"
    NO_MKDOCS_2_WARNING=1 quiet "$1/bin/mkdocs" build --strict --site-dir "$run/site"
}

"$python" -m venv "$work/base"
"$work/base/bin/python" -m pip install -q -e "$repo"
for extra in $extras; do
    start=$(date +%s)
    if [ "$extra" = core ]; then  # simgen alone: its own venv, nothing installed into it
        mkdir -p "$work/run-core" && cd "$work/run-core"
        "$work/base/bin/python" "$repo/scripts/check_core.py" || fail "simgen alone cannot do what the docs show"
        cd "$repo"
        say "core: simgen alone does every core thing the docs show ($(( $(date +%s) - start )) s)"
        continue
    fi
    declare -F "check_$extra" > /dev/null || { echo "check_extras: no extra named $extra" >&2; exit 2; }
    venv=$work/venv-$extra
    run=$work/run-$extra
    cp -al "$work/base" "$venv"
    mkdir -p "$run"
    "$venv/bin/python" -m pip install -q -e "$repo[$extra]"
    head -1 "$venv/bin/simgen" | grep -q "$venv/bin/python" || fail "its simgen script runs another environment"
    cd "$run"
    "check_$extra" "$venv"
    cd "$repo"
    rm -rf "$venv" "$run"
    say "$extra: installed alone, its documented command works ($(( $(date +%s) - start )) s)"
done
