"""The seven DAO classes of the original layer (``affine.database.dao``).

Each may be created at any time; its methods use the store of the latest
``init_client()`` and raise ``RuntimeError`` (on await) before one.

Every method is an ``async def``, as in the original: calling it only makes
a coroutine, and everything (argument checks and conversion included)
happens when it is awaited. A call that is never awaited does nothing;
``asyncio.run(dao.m(...))``, ``asyncio.gather(..., return_exceptions=True)``
and ``asyncio.create_task(dao.m(...))`` work, and cancelling the awaiting
task cancels the wait. The work itself runs in Rust (``affine_db._native``)
without the GIL. Defaults the core decides (``ttl_days``, ``retention_days``)
are ``None`` here and filled in by the core.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Literal, Mapping, Optional

from . import _native

__all__ = [
    "SampleResultsDAO",
    "TaskQueueDAO",
    "ExecutionLogsDAO",
    "ScoresDAO",
    "SystemConfigDAO",
    "MinerMetadataDAO",
    "DataRetentionDAO",
]


def _numbers(**values: Any) -> None:
    """Refuses ``bool`` for parameters the original's schema stores as
    numbers (``N``): Python's ``True`` is an ``int``, but not a number here.
    The error names the parameter; other type errors come from the native
    conversion, which names it too."""
    for name, value in values.items():
        if isinstance(value, bool):
            raise TypeError(f"argument '{name}': expected a number, got bool {value!r}")


class SampleResultsDAO(_native.SampleResultsDAO):
    """Evaluated samples (``sample_results``); conversations stored compressed."""

    async def save_sample(
        self,
        miner_hotkey: str,
        model_revision: str,
        model_hash: str,
        uid: int,
        env: str,
        subset: str,
        dataset_index: int,
        task_id: str,
        score: float,
        success: bool,
        latency_ms: int,
        conversation: Any,
        validator_hotkey: str,
        block_number: int,
        signature: str,
        timestamp: Optional[int] = None,
        sample_id: Optional[str] = None,
    ) -> dict[str, Any]:
        """Saves a sample and returns it (without ``conversation_compressed``).
        With a ``sample_id`` already stored for this miner and revision, the
        stored sample is replaced: a retry with the same id keeps one row."""
        _numbers(
            uid=uid,
            dataset_index=dataset_index,
            score=score,
            latency_ms=latency_ms,
            block_number=block_number,
            timestamp=timestamp,
        )
        return await super().save_sample(
            miner_hotkey=miner_hotkey,
            model_revision=model_revision,
            model_hash=model_hash,
            uid=uid,
            env=env,
            subset=subset,
            dataset_index=dataset_index,
            task_id=task_id,
            score=score,
            success=success,
            latency_ms=latency_ms,
            conversation=conversation,
            validator_hotkey=validator_hotkey,
            block_number=block_number,
            signature=signature,
            timestamp=timestamp,
            sample_id=sample_id,
        )

    async def get_samples_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        env: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = True,
        include_conversation: bool = True,
    ) -> list[dict[str, Any]]:
        """The miner's samples in sort key order (env, then time), reversed
        (newest first) by default, env filter before the limit."""
        _numbers(limit=limit)
        return await super().get_samples_by_miner(
            miner_hotkey, model_revision, env, limit, reverse, include_conversation
        )

    async def get_samples_by_task_ids(
        self,
        miner_hotkey: str,
        model_revision: str,
        task_ids: list[str],
        include_conversation: bool = True,
    ) -> list[dict[str, Any]]:
        """The miner revision's samples of these tasks (every env, sort key
        order); duplicates ignored, at most 1,000 distinct task ids."""
        if isinstance(task_ids, (str, bytes)):
            raise TypeError("task_ids must be a list of task id strings, not one string")
        return await super().get_samples_by_task_ids(
            miner_hotkey, model_revision, list(task_ids), include_conversation
        )

    async def get_samples_by_env(
        self,
        env: str,
        start_timestamp: int,
        end_timestamp: int,
        limit: Optional[int] = None,
        include_conversation: bool = True,
    ) -> list[dict[str, Any]]:
        """Samples of ``env`` with ``start <= timestamp <= end``, oldest first."""
        _numbers(start_timestamp=start_timestamp, end_timestamp=end_timestamp, limit=limit)
        return await super().get_samples_by_env(
            env, start_timestamp, end_timestamp, limit, include_conversation
        )

    async def iter_samples_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        env: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = True,
        include_conversation: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """``get_samples_by_miner`` for ``async for``: the same samples in the
        same order, yielded as each page (500) arrives, so memory holds a
        page, not the result. Nothing is read until the first iteration."""
        _numbers(limit=limit)
        pages = super()._stream_samples_by_miner(
            miner_hotkey, model_revision, env, limit, reverse, include_conversation
        )
        while (page := await pages.next_page()) is not None:
            for row in page:
                yield row

    async def iter_samples_by_env(
        self,
        env: str,
        start_timestamp: int,
        end_timestamp: int,
        limit: Optional[int] = None,
        include_conversation: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """``get_samples_by_env`` for ``async for``, as
        ``iter_samples_by_miner`` is of its list."""
        _numbers(start_timestamp=start_timestamp, end_timestamp=end_timestamp, limit=limit)
        pages = super()._stream_samples_by_env(
            env, start_timestamp, end_timestamp, limit, include_conversation
        )
        while (page := await pages.next_page()) is not None:
            for row in page:
                yield row

    async def delete_samples_before(
        self, miner_hotkey: str, model_revision: str, cutoff_timestamp: int
    ) -> int:
        """Deletes the miner's samples (every env) before the cutoff; returns how many."""
        _numbers(cutoff_timestamp=cutoff_timestamp)
        return await super().delete_samples_before(miner_hotkey, model_revision, cutoff_timestamp)


class TaskQueueDAO(_native.TaskQueueDAO):
    """The task queue, with an atomic pending→running claim."""

    async def create_task(
        self,
        miner_hotkey: str,
        model_revision: str,
        model_hash: str,
        env: str,
        validator_hotkey: str,
        priority: int = 0,
        ttl_days: Optional[int] = None,
    ) -> dict[str, Any]:
        """Creates a pending task; ``ttl_days=None`` is the core's default (7)."""
        _numbers(priority=priority, ttl_days=ttl_days)
        return await super().create_task(
            miner_hotkey, model_revision, model_hash, env, validator_hotkey, priority, ttl_days
        )

    async def get_task(
        self, miner_hotkey: str, model_revision: str, task_id: str
    ) -> Optional[dict[str, Any]]:
        """One live task, or ``None``."""
        return await super().get_task(miner_hotkey, model_revision, task_id)

    async def get_pending_tasks(
        self, limit: Optional[int] = None, priority_order: bool = True
    ) -> list[dict[str, Any]]:
        """Pending tasks across miners (highest priority, then oldest)."""
        _numbers(limit=limit)
        return await super().get_pending_tasks(limit, priority_order)

    async def start_task(self, miner_hotkey: str, model_revision: str, task_id: str) -> bool:
        """The atomic claim: ``True`` for the one caller that claimed it."""
        return await super().start_task(miner_hotkey, model_revision, task_id)

    async def claim_task(
        self, miner_hotkey: str, model_revision: str, task_id: str
    ) -> Optional[dict[str, Any]]:
        """The claim validated against the miner's current model hash."""
        return await super().claim_task(miner_hotkey, model_revision, task_id)

    async def complete_task(self, miner_hotkey: str, model_revision: str, task_id: str) -> bool:
        """Deletes the task; says whether it existed."""
        return await super().complete_task(miner_hotkey, model_revision, task_id)

    async def fail_task(
        self, miner_hotkey: str, model_revision: str, task_id: str, error_message: str
    ) -> bool:
        """Marks the task failed; ``False`` when it does not exist."""
        return await super().fail_task(miner_hotkey, model_revision, task_id, error_message)

    async def get_tasks_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        status: Optional[Literal["pending", "running", "completed", "failed"]] = None,
        limit: Optional[int] = None,
    ) -> list[dict[str, Any]]:
        """The miner's live tasks, newest first, status filter before the limit."""
        _numbers(limit=limit)
        return await super().get_tasks_by_miner(miner_hotkey, model_revision, status, limit)

    async def delete_miner_tasks(self, miner_hotkey: str, model_revision: str) -> int:
        """Deletes the miner's tasks; returns how many live ones there were."""
        return await super().delete_miner_tasks(miner_hotkey, model_revision)

    async def requeue_stale_tasks(self, timeout_seconds: int) -> int:
        """Puts tasks running longer than ``timeout_seconds`` back to pending."""
        _numbers(timeout_seconds=timeout_seconds)
        return await super().requeue_stale_tasks(timeout_seconds)


class ExecutionLogsDAO(_native.ExecutionLogsDAO):
    """Execution history (expires after 7 days)."""

    async def log_execution(
        self,
        miner_hotkey: str,
        uid: int,
        task_id: str,
        status: Literal["success", "failed"],
        env: str,
        error_type: Optional[str] = None,
        error_message: Optional[str] = None,
        execution_time_ms: int = 0,
        timestamp: Optional[int] = None,
    ) -> dict[str, Any]:
        """Logs one execution and returns the entry."""
        _numbers(uid=uid, execution_time_ms=execution_time_ms, timestamp=timestamp)
        return await super().log_execution(
            miner_hotkey,
            uid,
            task_id,
            status,
            env,
            error_type,
            error_message,
            execution_time_ms,
            timestamp,
        )

    async def get_recent_logs(
        self, miner_hotkey: str, limit: int = 1000, status: Optional[Literal["success", "failed"]] = None
    ) -> list[dict[str, Any]]:
        """The miner's logs, newest first, status filter before the limit."""
        _numbers(limit=limit)
        return await super().get_recent_logs(miner_hotkey, limit, status)

    async def check_consecutive_errors(self, miner_hotkey: str, threshold: int = 10) -> bool:
        """Whether the newest ``threshold`` logs all failed."""
        _numbers(threshold=threshold)
        return await super().check_consecutive_errors(miner_hotkey, threshold)

    async def get_error_summary(self, miner_hotkey: str, limit: int = 10) -> list[dict[str, Any]]:
        """The newest failures: ``timestamp``, ``env``, ``error_type``,
        ``error_message``, ``task_id`` each."""
        _numbers(limit=limit)
        return await super().get_error_summary(miner_hotkey, limit)

    async def get_execution_stats(
        self, miner_hotkey: str, time_window_seconds: int = 3600
    ) -> dict[str, Any]:
        """Counts and mean time of the window's logs (the original's keys)."""
        _numbers(time_window_seconds=time_window_seconds)
        return await super().get_execution_stats(miner_hotkey, time_window_seconds)


class ScoresDAO(_native.ScoresDAO):
    """Scores per block and miner."""

    async def save_score(
        self,
        block_number: int,
        miner_hotkey: str,
        uid: int,
        model_revision: str,
        overall_score: float,
        confidence_interval_lower: float,
        confidence_interval_upper: float,
        average_score: float,
        scores_by_layer: Mapping[str, float],
        scores_by_env: Mapping[str, float],
        total_samples: int,
        is_eligible: bool,
        meets_criteria: bool,
    ) -> dict[str, Any]:
        """Saves one miner's score at a block and returns it."""
        _numbers(
            block_number=block_number,
            uid=uid,
            overall_score=overall_score,
            confidence_interval_lower=confidence_interval_lower,
            confidence_interval_upper=confidence_interval_upper,
            average_score=average_score,
            total_samples=total_samples,
        )
        return await super().save_score(
            block_number,
            miner_hotkey,
            uid,
            model_revision,
            overall_score,
            confidence_interval_lower,
            confidence_interval_upper,
            average_score,
            scores_by_layer,
            scores_by_env,
            total_samples,
            is_eligible,
            meets_criteria,
        )

    async def save_block_scores(self, block_number: int, scores: list[dict[str, Any]]) -> list[str]:
        """Writes a whole block's scores as one snapshot readers never see half-written."""
        _numbers(block_number=block_number)
        return await super().save_block_scores(block_number, scores)

    async def get_scores_at_block(
        self, block_number: int, limit: Optional[int] = None
    ) -> list[dict[str, Any]]:
        """The block's scores, by hotkey."""
        _numbers(block_number=block_number, limit=limit)
        return await super().get_scores_at_block(block_number, limit)

    async def get_latest_scores(self, limit: Optional[int] = None) -> dict[str, Any]:
        """``{block_number, calculated_at, scores}`` of the latest block."""
        _numbers(limit=limit)
        return await super().get_latest_scores(limit)

    async def get_miner_score_at_block(
        self, block_number: int, miner_hotkey: str
    ) -> Optional[dict[str, Any]]:
        """One miner's score at a block, or ``None``."""
        _numbers(block_number=block_number)
        return await super().get_miner_score_at_block(block_number, miner_hotkey)

    async def get_miner_score_history(
        self, miner_hotkey: str, num_blocks: int = 10
    ) -> list[dict[str, Any]]:
        """The miner's scores at the most recent ``num_blocks`` blocks with scores."""
        _numbers(num_blocks=num_blocks)
        return await super().get_miner_score_history(miner_hotkey, num_blocks)


class SystemConfigDAO(_native.SystemConfigDAO):
    """Versioned configuration parameters."""

    async def set_param(
        self,
        param_name: str,
        param_value: Any,
        param_type: Literal["str", "int", "float", "bool", "dict", "list"],
        description: str = "",
        updated_by: str = "system",
    ) -> dict[str, Any]:
        """Sets a parameter (version = previous + 1) and returns it."""
        return await super().set_param(param_name, param_value, param_type, description, updated_by)

    async def get_param(self, param_name: str) -> Optional[dict[str, Any]]:
        """One parameter, or ``None``."""
        return await super().get_param(param_name)

    async def get_param_value(self, param_name: str, default: Any = None) -> Any:
        """A parameter's value, or ``default``."""
        return await super().get_param_value(param_name, default)

    async def get_all_params(self) -> dict[str, Any]:
        """Every parameter as name → value."""
        return await super().get_all_params()

    async def delete_param(self, param_name: str) -> bool:
        """Deletes a parameter; says whether it existed."""
        return await super().delete_param(param_name)

    async def list_all_configs(self) -> list[dict[str, Any]]:
        """Every parameter record, by name."""
        return await super().list_all_configs()


class MinerMetadataDAO(_native.MinerMetadataDAO):
    """Miner metadata, statistics and pause state."""

    async def save_metadata(
        self,
        miner_hotkey: str,
        uid: int,
        current_revision: str,
        model_hash: str,
        model_name: str,
        chutes_slug: Optional[str] = None,
        chutes_status: Literal["hot", "cold", "unknown"] = "unknown",
        last_commit_block: Optional[int] = None,
        first_commit_block: Optional[int] = None,
    ) -> dict[str, Any]:
        """Saves the metadata (statistics, pause state and the earliest
        ``first_commit_block`` kept; ``first_commit_block`` defaults to
        ``last_commit_block``) and returns the record."""
        _numbers(
            uid=uid, last_commit_block=last_commit_block, first_commit_block=first_commit_block
        )
        return await super().save_metadata(
            miner_hotkey,
            uid,
            current_revision,
            model_hash,
            model_name,
            chutes_slug,
            chutes_status,
            last_commit_block,
            first_commit_block,
        )

    async def get_metadata(self, miner_hotkey: str) -> Optional[dict[str, Any]]:
        """One miner's record, or ``None``."""
        return await super().get_metadata(miner_hotkey)

    async def update_statistics(
        self, miner_hotkey: str, success: bool, increment_samples: bool = True
    ) -> bool:
        """Counts one sample's outcome."""
        return await super().update_statistics(miner_hotkey, success, increment_samples)

    async def pause_miner(
        self, miner_hotkey: str, reason: str, duration_seconds: Optional[int] = None
    ) -> bool:
        """Pauses a miner (for ``duration_seconds``, or until unpaused)."""
        _numbers(duration_seconds=duration_seconds)
        return await super().pause_miner(miner_hotkey, reason, duration_seconds)

    async def unpause_miner(self, miner_hotkey: str) -> bool:
        """Unpauses a miner."""
        return await super().unpause_miner(miner_hotkey)

    async def check_pause_expired(self, miner_hotkey: str) -> bool:
        """Unpauses the miner once its pause has passed; says whether it did."""
        return await super().check_pause_expired(miner_hotkey)

    async def get_all_miners(self) -> list[dict[str, Any]]:
        """Every miner's record, by hotkey."""
        return await super().get_all_miners()


class DataRetentionDAO(_native.DataRetentionDAO):
    """Retention policies: what cleanup may delete."""

    async def set_policy(
        self,
        miner_hotkey: str,
        is_protected: bool,
        protection_reason: Optional[str] = None,
        retention_days: Optional[int] = None,
    ) -> dict[str, Any]:
        """Sets a policy; ``retention_days=None`` is the core's default (90)."""
        _numbers(retention_days=retention_days)
        return await super().set_policy(miner_hotkey, is_protected, protection_reason, retention_days)

    async def get_policy(self, miner_hotkey: str) -> Optional[dict[str, Any]]:
        """One policy, or ``None``."""
        return await super().get_policy(miner_hotkey)

    async def is_protected(self, miner_hotkey: str) -> bool:
        """Whether the miner is protected (``False`` without a policy)."""
        return await super().is_protected(miner_hotkey)

    async def set_protected(
        self, miner_hotkey: str, reason: str, protected_since: Optional[int] = None
    ) -> dict[str, Any]:
        """Protects a miner and returns the policy."""
        _numbers(protected_since=protected_since)
        return await super().set_protected(miner_hotkey, reason, protected_since)

    async def set_unprotected(self, miner_hotkey: str) -> dict[str, Any]:
        """Removes a miner's protection and returns the policy."""
        return await super().set_unprotected(miner_hotkey)

    async def update_cleanup_timestamp(self, miner_hotkey: str) -> bool:
        """Records a cleanup now."""
        return await super().update_cleanup_timestamp(miner_hotkey)

    async def get_all_policies(self) -> list[dict[str, Any]]:
        """Every policy, by hotkey."""
        return await super().get_all_policies()

    async def get_protected_miners(self) -> list[str]:
        """Hotkeys of the protected miners."""
        return await super().get_protected_miners()

    async def cleanup(self, dry_run: bool = False) -> dict[str, Any]:
        """Deletes samples older than each unprotected miner's retention."""
        return await super().cleanup(dry_run)
