"""Argument builders shared by the tests."""

from __future__ import annotations

import time
import uuid
from typing import Any


def unique(prefix: str = "hk") -> str:
    """A fresh name, so tests never see each other's rows."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ms() -> int:
    return int(time.time() * 1000)


def sample_args(**over: Any) -> dict[str, Any]:
    """The keyword arguments of `save_sample`, as the seed's example gives them."""
    args: dict[str, Any] = dict(
        miner_hotkey="5miner",
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
        conversation={"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        validator_hotkey="validator_hotkey",
        block_number=1_000_000,
        signature="signature_hex",
    )
    args.update(over)
    return args


def score_args(**over: Any) -> dict[str, Any]:
    """The keyword arguments of `save_score`, as the seed's example gives them."""
    args: dict[str, Any] = dict(
        block_number=1_000_000,
        miner_hotkey="5miner",
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
        meets_criteria=True,
    )
    args.update(over)
    return args
