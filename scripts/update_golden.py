"""Rewrite tests/golden/: render every golden case, fingerprint its files into manifest.json
and keep its RGB pictures (images/, previews/overlay/, previews/pose/) and float label arrays
(depth, normals, flow) as the references in golden/CASE/ (tests/golden_cases.py says what is
compared how).

    python scripts/update_golden.py            # all cases
    python scripts/update_golden.py tabletop   # some cases (the others keep their entries)

Commit the new manifest and pictures with a message that says why the outputs changed.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from golden_cases import CASES, FLOATS, GOLDEN, RGB, render_case  # noqa: E402

MANIFEST = GOLDEN / "manifest.json"


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        sys.exit(f"unknown golden case(s) {unknown}; choose from {sorted(CASES)}")
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or sorted(CASES):
            print(f"rendering golden case {name} ...", flush=True)
            out = Path(tmp) / name
            manifest[name] = render_case(name, out)
            shutil.rmtree(GOLDEN / name, ignore_errors=True)  # the case's old references
            pictures = [rel for rel, v in manifest[name].items() if v == RGB]
            arrays = [rel for rel, v in manifest[name].items() if v == FLOATS]
            for rel in pictures + arrays:
                (GOLDEN / name / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(out / rel, GOLDEN / name / rel)
            print(f"  {len(manifest[name])} files, {len(pictures)} RGB reference pictures, {len(arrays)} float "
                  "reference arrays", flush=True)
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    cases = [f"{json.dumps(case)}: {{\n" + ",\n".join(f" {json.dumps(rel)}: {json.dumps(value, sort_keys=True)}"
                                                       for rel, value in sorted(files.items())) + "\n}"
             for case, files in sorted(manifest.items())]
    MANIFEST.write_text("{\n" + ",\n".join(cases) + "\n}\n")  # one line per file: diffs name it
    print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    main(sys.argv[1:])
