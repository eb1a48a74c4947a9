"""Shared fixtures: every DAO test runs on SQLite (a temp file) and on
DynamoDB (the moto server `scripts/test` starts, at
AFFINE_TEST_DYNAMODB_ENDPOINT). Under AFFINE_REQUIRE_DYNAMODB=1 a missing
emulator fails the DynamoDB tests; it never skips them.

Async tests are plain `async def` functions: the hook below runs each in a
fresh event loop (no plugin needed).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pathlib
import uuid
from typing import Any, Callable

import pytest

import affine_db

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Runs `async def` tests (and their async fixtures' values) in asyncio."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(_with_setup(pyfuncitem.obj, kwargs))
    return True


async def _with_setup(test: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    store = kwargs.get("store")
    if store is None:
        await test(**kwargs)
        return
    await affine_db.init_client(store.url)
    await affine_db.init_tables()
    try:
        await test(**kwargs)
    finally:
        await affine_db.close_client()


def dynamodb_endpoint() -> str:
    """The emulator's endpoint; fails (never skips) when required and missing."""
    endpoint = os.environ.get("AFFINE_TEST_DYNAMODB_ENDPOINT", "")
    if endpoint:
        for key, value in (
            ("AWS_ACCESS_KEY_ID", "affine-test"),
            ("AWS_SECRET_ACCESS_KEY", "affine-test"),
            ("AWS_REGION", "us-east-1"),
        ):
            os.environ.setdefault(key, value)
        return endpoint
    if os.environ.get("AFFINE_REQUIRE_DYNAMODB") == "1":
        pytest.fail(
            "AFFINE_REQUIRE_DYNAMODB=1 but AFFINE_TEST_DYNAMODB_ENDPOINT is not set: run scripts/test"
        )
    pytest.skip("no DynamoDB emulator (AFFINE_TEST_DYNAMODB_ENDPOINT unset); scripts/test starts one")


class Target:
    """A fresh store of one backend: its `backend` name and `url`."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend = backend
        self.url = url


def store_url(backend: str, tmp_path: pathlib.Path) -> str:
    if backend == "sqlite":
        return f"sqlite://{tmp_path / 'affine.db'}"
    endpoint = dynamodb_endpoint()
    prefix = f"py{uuid.uuid4().hex[:12]}"
    return f"dynamodb://?prefix={prefix}&region=us-east-1&endpoint={endpoint}"


@pytest.fixture(params=["sqlite", "dynamodb"])
def target(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Target:
    """A fresh store of each backend, not opened."""
    return Target(request.param, store_url(request.param, tmp_path))


@pytest.fixture
def store(target: Target) -> Target:
    """`target`, opened with `init_client` and `init_tables` for the test and
    closed after it."""
    return target




@pytest.fixture
def affine_db_bin() -> pathlib.Path:
    """The `affine-db` binary (AFFINE_DB_BIN, else target/debug/affine-db); a
    missing binary fails the test."""
    path = pathlib.Path(os.environ.get("AFFINE_DB_BIN") or REPO / "target" / "debug" / "affine-db")
    if not path.is_file():
        pytest.fail(f"the affine-db binary is missing at {path}: run `cargo build -p affine-db-cli`")
    return path
