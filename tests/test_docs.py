"""The configuration reference is generated from the schema and must be current; the README's
commands are the CI's, and the benchmark commands it shows run."""

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "config.md").read_text() == gen.render(), \
        "docs/config.md is stale: run python scripts/gen_config_docs.py"


def test_readme_commands_are_the_ci_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = "python3.11 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"
    assert test_cmd in readme and ci.rstrip().endswith(test_cmd)
    assert "python3.11 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/simgen" in readme


@pytest.mark.slow
def test_the_readmes_benchmark_commands_run():
    """Each scripts/bench.py command the README shows, as written but on 3 tiny frames (argparse
    takes the last of a repeated option): it renders both passes and prints its figure."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\.venv/bin/python scripts/bench\.py(.*?)(?:#.*)?$", readme, re.M)
    assert len(commands) >= 4
    for args in commands:
        tiny = ["--frames", "3", "--warmup", "1", "--width", "64", "--height", "48", "--samples", "1"]
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), *shlex.split(args), *tiny],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0 and re.search(r"^overhead_ratio=\d", r.stdout, re.M), (args, r.stdout[-500:], r.stderr[-500:])
