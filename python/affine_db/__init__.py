"""affine_db: the Affine validator storage layer over the Rust library affine-db.

The original layer's API (``affine.database``) with this project's semantics::

    from affine_db import init_client
    from affine_db.dao import SampleResultsDAO

    await init_client()  # url, else $AFFINE_DB, else DynamoDB when the
                         # original's variables are set, else sqlite://affine.db
    await SampleResultsDAO().save_sample(...)

Store URLs are those of the ``affine-db`` binary: ``sqlite://PATH``,
``sqlite::memory:`` and ``dynamodb://?prefix=P&region=R&endpoint=URL``
(``DYNAMODB_TABLE_PREFIX``, ``AWS_REGION`` and ``AWS_ENDPOINT_URL_DYNAMODB``
apply as for the binary). Every DAO method and module function but
``get_client`` is an ``async def``: calling it does nothing until it is
awaited. Results are plain Python values; store errors are
:class:`affine_db.Error` subclasses.
"""

from __future__ import annotations

from typing import Optional

from . import _native
from ._native import Client, get_client
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



async def init_client(url: Optional[str] = None) -> Client:
    """Opens the store ``url`` names and makes it the one every DAO uses.

    Without ``url``: ``$AFFINE_DB``; else, when the original's
    ``DYNAMODB_TABLE_PREFIX`` or ``AWS_ENDPOINT_URL_DYNAMODB`` is set,
    DynamoDB with them (``dynamodb://``); else ``sqlite://affine.db``.
    ``get_client()`` (and the returned client) names the store opened.
    """
    return await _native.init_client(url)


async def close_client() -> None:
    """Forgets the store; DAO calls raise ``RuntimeError`` until the next ``init_client()``."""
    await _native.close_client()


async def init_tables() -> None:
    """Creates the seven tables where missing (DynamoDB; SQLite has them)."""
    await _native.init_tables()


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
