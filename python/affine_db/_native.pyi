"""Type stubs of affine_db._native (the Rust half of affine_db).

Every DAO method returns an asyncio future (already running); the public
``affine_db`` / ``affine_db.dao`` layer wraps each in an ``async def`` so
that nothing happens until it is awaited. Results are
plain Python values: dicts keyed by the item's attribute names, lists, int,
float, bool, str, None.
"""

from typing import Any, Awaitable, Literal, Mapping, Optional, Union, final

__all__ = [
    "Client",
    "init_client",
    "close_client",
    "init_tables",
    "get_client",
    "run_cli",
    "SampleResultsDAO",
    "SamplePages",
    "TaskQueueDAO",
    "ExecutionLogsDAO",
    "ScoresDAO",
    "SystemConfigDAO",
    "MinerMetadataDAO",
    "DataRetentionDAO",
]

#: A JSON-shaped value: what conversations and dict/list parameters hold.
_Json = Union[None, bool, int, float, str, list[Any], dict[str, Any]]
#: A record as a dict keyed by its attribute names.
_Record = dict[str, Any]
_ParamType = Literal["str", "int", "float", "bool", "dict", "list"]
_TaskStatus = Literal["pending", "running", "completed", "failed"]
_LogStatus = Literal["success", "failed"]
_ChutesStatus = Literal["hot", "cold", "unknown"]

@final
class Client:
    """The open store that ``init_client()`` made current."""

    @property
    def url(self) -> str: ...
    @property
    def backend(self) -> Literal["sqlite", "dynamodb"]: ...
    def describe(self) -> str: ...

def init_client(url: Optional[str] = None) -> Awaitable[Client]: ...
def close_client() -> Awaitable[None]: ...
def init_tables() -> Awaitable[None]: ...
def get_client() -> Client: ...
def run_cli(args: list[str]) -> int: ...

class SampleResultsDAO:
    def __init__(self) -> None: ...
    def save_sample(
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
        conversation: _Json,
        validator_hotkey: str,
        block_number: int,
        signature: str,
        timestamp: Optional[int] = None,
        sample_id: Optional[str] = None,
    ) -> Awaitable[_Record]: ...
    def get_samples_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        env: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = True,
        include_conversation: bool = True,
    ) -> Awaitable[list[_Record]]: ...
    def get_samples_by_task_ids(
        self,
        miner_hotkey: str,
        model_revision: str,
        task_ids: list[str],
        include_conversation: bool = True,
    ) -> Awaitable[list[_Record]]: ...
    def get_samples_by_env(
        self,
        env: str,
        start_timestamp: int,
        end_timestamp: int,
        limit: Optional[int] = None,
        include_conversation: bool = True,
    ) -> Awaitable[list[_Record]]: ...
    def _stream_samples_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        env: Optional[str] = None,
        limit: Optional[int] = None,
        reverse: bool = True,
        include_conversation: bool = True,
    ) -> SamplePages: ...
    def _stream_samples_by_env(
        self,
        env: str,
        start_timestamp: int,
        end_timestamp: int,
        limit: Optional[int] = None,
        include_conversation: bool = True,
    ) -> SamplePages: ...
    def delete_samples_before(
        self, miner_hotkey: str, model_revision: str, cutoff_timestamp: int
    ) -> Awaitable[int]: ...

@final
class SamplePages:
    """The pages of a stream of samples (``iter_samples_by_*``)."""
    def next_page(self) -> Awaitable[Optional[list[_Record]]]: ...

class TaskQueueDAO:
    def __init__(self) -> None: ...
    def create_task(
        self,
        miner_hotkey: str,
        model_revision: str,
        model_hash: str,
        env: str,
        validator_hotkey: str,
        priority: int = 0,
        ttl_days: Optional[int] = None,
    ) -> Awaitable[_Record]: ...
    def get_task(
        self, miner_hotkey: str, model_revision: str, task_id: str
    ) -> Awaitable[Optional[_Record]]: ...
    def get_pending_tasks(
        self, limit: Optional[int] = None, priority_order: bool = True
    ) -> Awaitable[list[_Record]]: ...
    def start_task(self, miner_hotkey: str, model_revision: str, task_id: str) -> Awaitable[bool]: ...
    def claim_task(
        self, miner_hotkey: str, model_revision: str, task_id: str
    ) -> Awaitable[Optional[_Record]]: ...
    def complete_task(
        self, miner_hotkey: str, model_revision: str, task_id: str
    ) -> Awaitable[bool]: ...
    def fail_task(
        self, miner_hotkey: str, model_revision: str, task_id: str, error_message: str
    ) -> Awaitable[bool]: ...
    def get_tasks_by_miner(
        self,
        miner_hotkey: str,
        model_revision: str,
        status: Optional[_TaskStatus] = None,
        limit: Optional[int] = None,
    ) -> Awaitable[list[_Record]]: ...
    def delete_miner_tasks(self, miner_hotkey: str, model_revision: str) -> Awaitable[int]: ...
    def requeue_stale_tasks(self, timeout_seconds: int) -> Awaitable[int]: ...

class ExecutionLogsDAO:
    def __init__(self) -> None: ...
    def log_execution(
        self,
        miner_hotkey: str,
        uid: int,
        task_id: str,
        status: _LogStatus,
        env: str,
        error_type: Optional[str] = None,
        error_message: Optional[str] = None,
        execution_time_ms: int = 0,
        timestamp: Optional[int] = None,
    ) -> Awaitable[_Record]: ...
    def get_recent_logs(
        self, miner_hotkey: str, limit: int = 1000, status: Optional[_LogStatus] = None
    ) -> Awaitable[list[_Record]]: ...
    def check_consecutive_errors(self, miner_hotkey: str, threshold: int = 10) -> Awaitable[bool]: ...
    def get_error_summary(self, miner_hotkey: str, limit: int = 10) -> Awaitable[list[_Record]]: ...
    def get_execution_stats(
        self, miner_hotkey: str, time_window_seconds: int = 3600
    ) -> Awaitable[dict[str, Any]]: ...

class ScoresDAO:
    def __init__(self) -> None: ...
    def save_score(
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
    ) -> Awaitable[_Record]: ...
    def save_block_scores(
        self, block_number: int, scores: list[dict[str, Any]]
    ) -> Awaitable[list[str]]: ...
    def get_scores_at_block(
        self, block_number: int, limit: Optional[int] = None
    ) -> Awaitable[list[_Record]]: ...
    def get_latest_scores(self, limit: Optional[int] = None) -> Awaitable[dict[str, Any]]: ...
    def get_miner_score_at_block(
        self, block_number: int, miner_hotkey: str
    ) -> Awaitable[Optional[_Record]]: ...
    def get_miner_score_history(
        self, miner_hotkey: str, num_blocks: int = 10
    ) -> Awaitable[list[_Record]]: ...

class SystemConfigDAO:
    def __init__(self) -> None: ...
    def set_param(
        self,
        param_name: str,
        param_value: _Json,
        param_type: _ParamType,
        description: str = "",
        updated_by: str = "system",
    ) -> Awaitable[_Record]: ...
    def get_param(self, param_name: str) -> Awaitable[Optional[_Record]]: ...
    def get_param_value(self, param_name: str, default: Any = None) -> Awaitable[Any]: ...
    def get_all_params(self) -> Awaitable[dict[str, Any]]: ...
    def delete_param(self, param_name: str) -> Awaitable[bool]: ...
    def list_all_configs(self) -> Awaitable[list[_Record]]: ...

class MinerMetadataDAO:
    def __init__(self) -> None: ...
    def save_metadata(
        self,
        miner_hotkey: str,
        uid: int,
        current_revision: str,
        model_hash: str,
        model_name: str,
        chutes_slug: Optional[str] = None,
        chutes_status: _ChutesStatus = "unknown",
        last_commit_block: Optional[int] = None,
        first_commit_block: Optional[int] = None,
    ) -> Awaitable[_Record]: ...
    def get_metadata(self, miner_hotkey: str) -> Awaitable[Optional[_Record]]: ...
    def update_statistics(
        self, miner_hotkey: str, success: bool, increment_samples: bool = True
    ) -> Awaitable[bool]: ...
    def pause_miner(
        self, miner_hotkey: str, reason: str, duration_seconds: Optional[int] = None
    ) -> Awaitable[bool]: ...
    def unpause_miner(self, miner_hotkey: str) -> Awaitable[bool]: ...
    def check_pause_expired(self, miner_hotkey: str) -> Awaitable[bool]: ...
    def get_all_miners(self) -> Awaitable[list[_Record]]: ...

class DataRetentionDAO:
    def __init__(self) -> None: ...
    def set_policy(
        self,
        miner_hotkey: str,
        is_protected: bool,
        protection_reason: Optional[str] = None,
        retention_days: Optional[int] = None,
    ) -> Awaitable[_Record]: ...
    def get_policy(self, miner_hotkey: str) -> Awaitable[Optional[_Record]]: ...
    def is_protected(self, miner_hotkey: str) -> Awaitable[bool]: ...
    def set_protected(
        self, miner_hotkey: str, reason: str, protected_since: Optional[int] = None
    ) -> Awaitable[_Record]: ...
    def set_unprotected(self, miner_hotkey: str) -> Awaitable[_Record]: ...
    def update_cleanup_timestamp(self, miner_hotkey: str) -> Awaitable[bool]: ...
    def get_all_policies(self) -> Awaitable[list[_Record]]: ...
    def get_protected_miners(self) -> Awaitable[list[str]]: ...
    def cleanup(self, dry_run: bool = False) -> Awaitable[dict[str, Any]]: ...
