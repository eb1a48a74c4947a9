"""The seed README's usage examples, with `affine.database` replaced by
`affine_db`, run unchanged as a program on each backend (tables created by
the `affine-db` binary's `init`, as the seed's `cli init` did)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

SCRIPT = '''
import asyncio

from affine_db import init_client
from affine_db.dao import SampleResultsDAO
from affine_db.dao import TaskQueueDAO, MinerMetadataDAO
from affine_db.dao import ScoresDAO
from affine_db.dao import SystemConfigDAO
from affine_db.dao import DataRetentionDAO


async def main():
    await init_client()

    sample_dao = SampleResultsDAO()

    await sample_dao.save_sample(
        miner_hotkey="5xxx...",
        model_revision="v1.0.0",
        model_hash="abc123",
        uid=42,
        env="L3",
        subset="test_subset",
        dataset_index=0,
        task_id="task_001",
        score=0.95,
        success=True,
        latency_ms=150,
        conversation={"messages": [{"role": "user", "content": "hi"}]},  # Will be compressed
        validator_hotkey="validator_hotkey",
        block_number=1000000,
        signature="signature_hex"
    )

    task_dao = TaskQueueDAO()
    miner_dao = MinerMetadataDAO()
    await miner_dao.save_metadata("5xxx...", 42, "v1.0.0", "abc123", "org/model")

    # Create task
    task = await task_dao.create_task(
        miner_hotkey="5xxx...",
        model_revision="v1.0.0",
        model_hash="abc123",
        env="L3",
        validator_hotkey="owner_hotkey"
    )

    # Before execution: validate miner state
    metadata = await miner_dao.get_metadata("5xxx...")
    if metadata["model_hash"] != task["model_hash"]:
        # Miner state changed, invalidate task
        await task_dao.complete_task("5xxx...", "v1.0.0", task["task_id"])
    else:
        # Execute task
        await task_dao.start_task("5xxx...", "v1.0.0", task["task_id"])
        # ... perform sampling ...
        await task_dao.complete_task("5xxx...", "v1.0.0", task["task_id"])

    score_dao = ScoresDAO()

    await score_dao.save_score(
        block_number=1000000,
        miner_hotkey="5xxx...",
        uid=42,
        model_revision="v1.0.0",
        overall_score=0.95,
        confidence_interval_lower=0.90,
        confidence_interval_upper=0.98,
        average_score=0.94,
        scores_by_layer={"L3": 0.95, "L4": 0.93},
        scores_by_env={"env1": 0.96, "env2": 0.94},
        total_samples=100,
        is_eligible=True,
        meets_criteria=True
    )

    # Get latest scores
    latest = await score_dao.get_latest_scores()
    print(f"Block: {latest['block_number']}")
    print(f"Scores: {len(latest['scores'])}")

    config_dao = SystemConfigDAO()

    # Set parameter
    await config_dao.set_param(
        param_name="max_concurrent_tasks",
        param_value=10,
        param_type="int",
        description="Maximum concurrent sampling tasks"
    )

    # Get parameter
    max_tasks = await config_dao.get_param_value("max_concurrent_tasks", default=5)
    print(f"max_tasks: {max_tasks}")

    retention_dao = DataRetentionDAO()

    # Protect top-3 miners
    await retention_dao.set_protected(
        miner_hotkey="5xxx...",
        reason="Historical rank #1"
    )

    # Check protection
    is_protected = await retention_dao.is_protected("5xxx...")
    print(f"protected: {is_protected}")
    print(f"tasks left: {len(await task_dao.get_tasks_by_miner('5xxx...', 'v1.0.0'))}")
    print(f"samples: {len(await sample_dao.get_samples_by_miner('5xxx...', 'v1.0.0'))}")


asyncio.run(main())
'''


def test_the_seed_examples_run_unchanged(target, affine_db_bin, tmp_path: pathlib.Path) -> None:
    env = dict(os.environ, AFFINE_DB=target.url)
    init = subprocess.run([str(affine_db_bin), "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    script = tmp_path / "seed_examples.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "Block: 1000000",
        "Scores: 1",
        "max_tasks: 10",
        "protected: True",
        "tasks left: 0",
        "samples: 1",
    ]
