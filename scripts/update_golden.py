"""Rewrite tests/golden/manifest.json: render every golden case and fingerprint its files.

    python scripts/update_golden.py            # all cases
    python scripts/update_golden.py tabletop   # some cases (the others keep their entries)

Commit the new manifest with a message that says why the outputs changed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from golden_cases import CASES, render_case  # noqa: E402

MANIFEST = TESTS / "golden" / "manifest.json"


def main(names: list[str]) -> None:
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        sys.exit(f"unknown golden case(s) {unknown}; choose from {sorted(CASES)}")
    manifest = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or sorted(CASES):
            print(f"rendering golden case {name} ...", flush=True)
            manifest[name] = render_case(name, Path(tmp) / name)
            print(f"  {len(manifest[name])} files", flush=True)
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    cases = [f"{json.dumps(case)}: {{\n" + ",\n".join(f" {json.dumps(rel)}: {json.dumps(value, sort_keys=True)}"
                                                       for rel, value in sorted(files.items())) + "\n}"
             for case, files in sorted(manifest.items())]
    MANIFEST.write_text("{\n" + ",\n".join(cases) + "\n}\n")  # one line per file: diffs name it
    print(f"wrote {MANIFEST}")


if __name__ == "__main__":
    main(sys.argv[1:])
