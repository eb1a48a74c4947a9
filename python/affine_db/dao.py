"""The seven DAO classes of the original layer (``affine.database.dao``).

Each may be created at any time; its methods use the store of the latest
``init_client()`` and raise ``RuntimeError`` before one.
"""

from __future__ import annotations

from ._native import (
    DataRetentionDAO,
    ExecutionLogsDAO,
    MinerMetadataDAO,
    SampleResultsDAO,
    ScoresDAO,
    SystemConfigDAO,
    TaskQueueDAO,
)

__all__ = [
    "SampleResultsDAO",
    "TaskQueueDAO",
    "ExecutionLogsDAO",
    "ScoresDAO",
    "SystemConfigDAO",
    "MinerMetadataDAO",
    "DataRetentionDAO",
]
