"""Golden outputs: refactoring changes no byte of any output file (see golden_cases.py).

A failure lists the files whose bytes (JSON: values, see golden_cases.py) changed,
appeared or vanished. If the change is
intended (a new label kind, a new default), run ``python scripts/update_golden.py`` and
say why in the commit that changes tests/golden/manifest.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from golden_cases import CASES, render_case, same

pytestmark = pytest.mark.render
MANIFEST = Path(__file__).parent / "golden" / "manifest.json"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_output_unchanged(case, tmp_path):
    expected = json.loads(MANIFEST.read_text())[case]
    got = render_case(case, tmp_path / case)
    changed = sorted(k for k in expected.keys() & got.keys() if not same(expected[k], got[k]))
    assert not changed and got.keys() == expected.keys(), (
        f"golden case {case}: changed {changed[:20]}, new {sorted(got.keys() - expected.keys())[:20]}, "
        f"missing {sorted(expected.keys() - got.keys())[:20]}; if intended, run scripts/update_golden.py "
        "and say why in the commit")
