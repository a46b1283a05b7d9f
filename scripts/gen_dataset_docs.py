"""Write the label-kind table of docs/dataset.md from the registry (simgen.labels.kinds).

The table sits between the markers ``<!-- label-kinds:begin -->`` and
``<!-- label-kinds:end -->``; tests/test_label_kinds.py fails when it is stale.
Run: python scripts/gen_dataset_docs.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simgen.labels.kinds import LABEL_KINDS  # noqa: E402

BEGIN, END = "<!-- label-kinds:begin -->", "<!-- label-kinds:end -->"
DOC = ROOT / "docs" / "dataset.md"


def table() -> str:
    rows = ["| kind | written | file | array | content |", "|---|---|---|---|---|"]
    for k in LABEL_KINDS.values(plugins=False):  # simgen's own, not those of installed plugins
        written = "always" if k.from_render else f"`output.labels=[{k.name}]`"
        file = f"`{k.folder}/NNNNNN{k.suffix}`" if k.folder else \
            f"`{k.name}/SSSSSS.npz` (per sequence)" if k.sequence else "(annotation fields)"
        shape = {0: "(H, W)", -1: "-"}.get(k.channels, f"(H, W, {k.channels})")
        array = f"{k.dtype} {shape}" if k.channels >= 0 else "-"
        rows.append(f"| `{k.name}` | {written} | {file} | {array} | {k.doc} |")
    return "\n".join(rows)


def update(text: str) -> str:
    """``text`` with the table between the markers replaced by the registry's."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


if __name__ == "__main__":
    if sys.argv[1:2] in (["-h"], ["--help"]):  # the docstring is the usage; nothing is written
        sys.exit(print(__doc__))
    DOC.write_text(update(DOC.read_text()))
    print(f"wrote {DOC}")
