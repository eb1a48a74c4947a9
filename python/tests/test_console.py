"""The command line from the package: the `affine-db` console script and
`python -m affine_db.cli` run the Rust CLI linked into the extension, with
the binary's output and exit codes (SQLite and DynamoDB)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest


def console_script() -> str:
    path = pathlib.Path(sys.executable).with_name("affine-db")
    if not path.is_file():
        found = shutil.which("affine-db")
        if found is None:
            pytest.fail("the affine-db console script is not installed beside this Python")
        return found
    return str(path)


def runs(url: str, *args: str, binary: pathlib.Path) -> list[subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    env.pop("AFFINE_DB", None)
    commands = [
        [str(binary), "--db", url, *args],
        [console_script(), "--db", url, *args],
        [sys.executable, "-m", "affine_db.cli", "--db", url, *args],
    ]
    return [subprocess.run(c, capture_output=True, text=True, env=env) for c in commands]


def same_everywhere(results: list[subprocess.CompletedProcess[str]]) -> subprocess.CompletedProcess[str]:
    first = results[0]
    for r in results[1:]:
        assert (r.returncode, r.stdout, r.stderr) == (first.returncode, first.stdout, first.stderr), r.args
    return first


def test_init_test_and_stats_equal_the_binarys(target, affine_db_bin) -> None:
    url = target.url
    # `init` on a fresh store, once through each entry point.
    for r in runs(url, "init", binary=affine_db_bin):
        assert r.returncode == 0, r
    same_everywhere(runs(url, "init", binary=affine_db_bin))
    test = same_everywhere(runs(url, "test", binary=affine_db_bin))
    assert test.returncode == 0, test
    assert "all checks passed" in test.stdout
    stats = same_everywhere(runs(url, "stats", "--json", binary=affine_db_bin))
    assert stats.returncode == 0 and stats.stdout.strip().startswith(("{", "["))


def test_usage_errors_and_help_exit_as_the_binary(affine_db_bin, tmp_path) -> None:
    url = f"sqlite://{tmp_path / 'x.db'}"
    bad = same_everywhere(runs(url, "no-such-command", binary=affine_db_bin))
    assert bad.returncode == 2 and "unrecognized subcommand" in bad.stderr
    help_ = same_everywhere(runs(url, "--help", binary=affine_db_bin))
    assert help_.returncode == 0 and "Usage: affine-db" in help_.stdout
    for name in ("init", "list", "test", "reset", "migrate"):
        sub = same_everywhere(runs(url, name, "--help", binary=affine_db_bin))
        assert sub.returncode == 0, name
