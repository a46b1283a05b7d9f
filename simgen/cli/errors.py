"""How the ``simgen`` command words bad input: one line on stderr, ``PROG: error: ...``, and an
exit status (2 for bad usage unless told otherwise)."""

from __future__ import annotations

import sys


def fail(message: str, code: int = 2, prog: str = "simgen") -> None:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)
