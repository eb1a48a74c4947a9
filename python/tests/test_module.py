"""Module functions, exceptions, concurrency and typing."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import sys
import threading

import pytest

import affine_db
from affine_db import close_client, get_client, init_client, init_tables
from affine_db.dao import (
    DataRetentionDAO,
    ExecutionLogsDAO,
    MinerMetadataDAO,
    SampleResultsDAO,
    ScoresDAO,
    SystemConfigDAO,
    TaskQueueDAO,
)

from conftest import dynamodb_endpoint
from helpers import sample_args, unique

VARIANTS = ["InvalidInput", "NotFound", "Conflict", "TooLarge", "MissingTable", "MissingIndex", "SchemaDrift", "Throttled", "Unavailable", "Corrupt", "Backend"]


def test_one_exception_class_per_variant() -> None:
    for name in VARIANTS:
        cls = getattr(affine_db, name)
        assert issubclass(cls, affine_db.Error) and cls is not affine_db.Error
    assert issubclass(affine_db.InvalidInput, ValueError)
    assert issubclass(affine_db.TooLarge, ValueError)
    assert issubclass(affine_db.NotFound, LookupError)
    assert not issubclass(affine_db.Conflict, ValueError)
    assert affine_db.Throttled.transient and affine_db.Unavailable.transient and not affine_db.Backend.transient
    assert len({getattr(affine_db, n).kind for n in VARIANTS}) == len(VARIANTS)


async def test_calls_before_init_client_raise_runtime_error() -> None:
    await close_client()
    with pytest.raises(RuntimeError):
        get_client()
    with pytest.raises(RuntimeError):
        await SampleResultsDAO().get_samples_by_miner("a", "b")
    with pytest.raises(RuntimeError):
        await init_tables()


async def test_init_client_takes_url_then_affine_db_env_then_default(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AFFINE_DB", raising=False)
    client = await init_client()
    assert client.backend == "sqlite" and client.url == "sqlite://affine.db"
    assert (tmp_path / "affine.db").is_file()
    monkeypatch.setenv("AFFINE_DB", f"sqlite://{tmp_path / 'from-env.db'}")
    await init_client()
    assert get_client().url.endswith("from-env.db") and (tmp_path / "from-env.db").is_file()
    await init_client("sqlite::memory:")
    assert get_client().backend == "sqlite"
    await close_client()
    with pytest.raises(RuntimeError):
        get_client()


@pytest.mark.parametrize("url", ["postgres://u:p@h/db", "sqlite://", "dynamodb://?bogus=1", "dynamodb://?prefix=a&prefix=b", "affine.db"])
async def test_bad_urls_are_invalid_input(url: str) -> None:
    with pytest.raises(affine_db.InvalidInput):
        await init_client(url)


async def test_dynamodb_url_and_environment_like_the_cli(monkeypatch) -> None:
    endpoint = dynamodb_endpoint()
    prefix = f"py{unique('env').replace('-', '')}"
    monkeypatch.setenv("DYNAMODB_TABLE_PREFIX", prefix)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    client = await init_client("dynamodb://")
    try:
        assert client.backend == "dynamodb" and prefix in client.describe()
        with pytest.raises(affine_db.MissingTable):
            await SystemConfigDAO().get_param("x")
        await init_tables()
        await init_tables()  # idempotent
        await SystemConfigDAO().set_param("x", 1, "int")
        # The same tables through the URL's own parameters.
        await init_client(f"dynamodb://?prefix={prefix}&endpoint={endpoint}&region=us-east-1")
        assert await SystemConfigDAO().get_param_value("x") == 1
    finally:
        await close_client()


async def test_every_dao_method_is_awaitable_and_returns_plain_values(store) -> None:
    dao = SampleResultsDAO()
    awaitable = dao.get_samples_by_miner("a", "b")
    assert hasattr(awaitable, "__await__")
    assert await awaitable == []
    for cls in (SampleResultsDAO, TaskQueueDAO, ExecutionLogsDAO, ScoresDAO, SystemConfigDAO, MinerMetadataDAO, DataRetentionDAO):
        assert cls.__module__ == "affine_db.dao"
        class Sub(cls):  # the original's DAOs could be subclassed
            pass
        assert isinstance(Sub(), cls)


async def test_many_asyncio_tasks_at_once(store) -> None:
    samples, miners, tasks = SampleResultsDAO(), MinerMetadataDAO(), TaskQueueDAO()
    hk = unique()
    await miners.save_metadata(hk, 1, "v1.0.0", "abc123", "m")
    jobs = []
    for i in range(40):
        jobs.append(samples.save_sample(**sample_args(miner_hotkey=hk, dataset_index=i)))
        jobs.append(miners.update_statistics(hk, i % 2 == 0))
        jobs.append(tasks.create_task(hk, "v1.0.0", "abc123", "L3", "v"))
    results = await asyncio.gather(*jobs)
    assert len(results) == 120
    assert len(await samples.get_samples_by_miner(hk, "v1.0.0")) == 40
    meta = await miners.get_metadata(hk)
    assert (meta["total_samples"], meta["success_count"], meta["error_count"]) == (40, 20, 20)
    assert len(await tasks.get_tasks_by_miner(hk, "v1.0.0")) == 40


async def test_the_gil_is_released_while_rust_works(tmp_path: pathlib.Path) -> None:
    """A Python thread runs to completion while a store call is in progress
    in Rust: another process holds SQLite's write lock, so the delete cannot
    finish until that process is told to commit; the thread's work is done
    before then, and the delete is still pending. Were the GIL held while
    Rust waits, the thread could not finish first (the delete would fail on
    the busy timeout and be done). No sleeps, no time bounds: every step
    waits for an observed event."""
    url = f"sqlite://{tmp_path / 'gil.db'}"
    await init_client(url)
    try:
        dao = SampleResultsDAO()
        hk = unique()
        await asyncio.gather(*[dao.save_sample(**sample_args(miner_hotkey=hk, dataset_index=i, timestamp=1_600_000_000_000 + i)) for i in range(300)])
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None); "
                "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline(); c.execute('COMMIT')",
                url.removeprefix("sqlite://"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "locked"
            delete = asyncio.create_task(dao.delete_samples_before(hk, "v1.0.0", 1_700_000_000_000))
            await asyncio.sleep(0)  # the task's first step: the native call is made
            done = threading.Event()
            counted = [0]

            def work() -> None:
                for _ in range(100_000):
                    counted[0] += 1
                done.set()

            thread = threading.Thread(target=work)
            thread.start()
            await asyncio.to_thread(done.wait)
            thread.join()
            assert counted[0] == 100_000
            # The lock is still held: the Rust call cannot have finished.
            assert not delete.done()
            holder.stdin.write("release\n")
            holder.stdin.flush()
            assert await delete == 300
        finally:
            if holder.poll() is None:
                holder.stdin.write("release\n")
                holder.stdin.flush()
            assert holder.wait() == 0
    finally:
        await close_client()


def test_stubs_match_the_runtime(tmp_path: pathlib.Path) -> None:
    """mypy's stubtest: every name, signature and default in the .pyi stubs
    is what the extension module has."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "affine_db"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_script_using_the_api_type_checks(tmp_path: pathlib.Path) -> None:
    script = tmp_path / "validator.py"
    script.write_text(
        '''
from typing import Any, Optional
from affine_db import init_client, InvalidInput
from affine_db.dao import SampleResultsDAO, TaskQueueDAO, ScoresDAO, SystemConfigDAO

async def main() -> None:
    client = await init_client("sqlite::memory:")
    backend: str = client.backend
    task: dict[str, Any] = await TaskQueueDAO().create_task("hk", "v1", "h", "L3", "val", priority=1)
    won: bool = await TaskQueueDAO().start_task("hk", "v1", task["task_id"])
    rows: list[dict[str, Any]] = await SampleResultsDAO().get_samples_by_miner("hk", "v1", limit=5, reverse=False)
    latest = await ScoresDAO().get_latest_scores()
    value: Any = await SystemConfigDAO().get_param_value("max", default=5)
    one: Optional[dict[str, Any]] = await TaskQueueDAO().get_task("hk", "v1", "id")
    try:
        await SystemConfigDAO().set_param("p", 1, "int")
    except InvalidInput as e:
        print(e.field)
'''
    )
    bad = tmp_path / "wrong.py"
    bad.write_text(
        '''
from affine_db.dao import TaskQueueDAO

async def main() -> None:
    await TaskQueueDAO().start_task("hk", "v1")
    won: str = await TaskQueueDAO().start_task("hk", "v1", "id")
    await TaskQueueDAO().get_pending_tasks(limit="ten")
'''
    )
    ok = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert wrong.returncode == 1
    assert wrong.stdout.count("error:") == 3, wrong.stdout


async def test_a_cancelled_call_raises_cancelled_and_the_store_stays_usable(store) -> None:
    """Cancelling the awaitable of a call (directly or by a timeout) raises
    CancelledError/TimeoutError in the caller, aborts the Rust call, and
    later calls work."""
    dao = SampleResultsDAO()
    hk = unique()
    call = asyncio.ensure_future(dao.get_samples_by_miner(hk, "v1.0.0"))
    assert call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*[dao.save_sample(**sample_args(miner_hotkey=hk, dataset_index=i)) for i in range(200)]),
            timeout=0.001,
        )
    await dao.save_sample(**sample_args(miner_hotkey=hk, dataset_index=1000))
    rows = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert 1 <= len(rows) <= 201
    assert any(r["dataset_index"] == 1000 for r in rows)
