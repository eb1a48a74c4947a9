"""affine_db: the Affine validator storage layer over the Rust library affine-db.

The original layer's API (``affine.database``) with this project's semantics::

    from affine_db import init_client
    from affine_db.dao import SampleResultsDAO

    await init_client()              # url, else $AFFINE_DB, else sqlite://affine.db
    await SampleResultsDAO().save_sample(...)

Store URLs are those of the ``affine-db`` binary: ``sqlite://PATH``,
``sqlite::memory:`` and ``dynamodb://?prefix=P&region=R&endpoint=URL``
(``DYNAMODB_TABLE_PREFIX``, ``AWS_REGION`` and ``AWS_ENDPOINT_URL_DYNAMODB``
apply as for the binary). Every DAO method is awaitable and returns plain
Python values; store errors are :class:`affine_db.Error` subclasses.
"""

from __future__ import annotations

from ._native import Client, close_client, get_client, init_client, init_tables
from .errors import (
    Backend,
    Conflict,
    Corrupt,
    Error,
    InvalidInput,
    MissingIndex,
    MissingTable,
    NotFound,
    SchemaDrift,
    Throttled,
    TooLarge,
    Unavailable,
)

__all__ = [
    "init_client",
    "close_client",
    "init_tables",
    "get_client",
    "Client",
    "Error",
    "InvalidInput",
    "NotFound",
    "Conflict",
    "TooLarge",
    "MissingTable",
    "MissingIndex",
    "SchemaDrift",
    "Throttled",
    "Unavailable",
    "Corrupt",
    "Backend",
]
