"""The ``affine-db`` command line from Python: the same program as the Rust
binary (linked into ``affine_db._native``, so the same commands, flags,
output and exit codes).

    affine-db init                      # the console script pip installs
    python -m affine_db.cli test        # as the original's module path
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from . import _native

__all__ = ["main"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line on ``argv`` (default ``sys.argv[1:]``); returns
    its exit code. Output goes straight to the process's stdout/stderr."""
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return _native.run_cli(["affine-db", *args])


if __name__ == "__main__":
    sys.exit(main())
