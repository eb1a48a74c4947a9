"""The exceptions of affine_db: one class per variant of the library's error.

Every exception raised by a store operation is an :class:`Error`; catch the
subclass you can act on. ``kind`` is the variant's stable name (the Rust
``Error::kind``), and the message is the error with its whole cause chain on
one line.

- :class:`InvalidInput` (also a :class:`ValueError`): the arguments were
  rejected (a ``#`` or control character in a key part, a non-finite score,
  a value not matching its ``param_type``, ...). Nothing was written.
- :class:`NotFound` (also a :class:`LookupError`): the item does not exist
  or has expired.
- :class:`Conflict`: a conditional write lost (the item changed concurrently).
- :class:`TooLarge` (also a :class:`ValueError`): the item would exceed
  DynamoDB's 400 KB limit. Nothing was written.
- :class:`MissingTable`: a table does not exist; run ``init_tables()``.
- :class:`MissingIndex`: a secondary index a read needs does not exist;
  run ``init_tables()`` (``affine-db init``), which creates it.
- :class:`SchemaDrift`: the live schema differs from the declared one where
  ``init_tables()`` cannot repair it in place; nothing was changed.
- :class:`Throttled`, :class:`Unavailable`: transient; the same call may
  succeed later (``transient`` is ``True``).
- :class:`Corrupt`: stored data could not be decoded.
- :class:`Backend`: any other, permanent, backend failure.
"""

from __future__ import annotations

__all__ = [
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


class Error(Exception):
    """Base class of every affine_db store error."""

    #: The variant's stable name (``invalid_input``, ``not_found``, ...).
    kind: str = "error"
    #: Whether retrying the same call may succeed.
    transient: bool = False


class InvalidInput(Error, ValueError):
    """The arguments were rejected before anything was written."""

    kind = "invalid_input"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        #: Which argument or attribute was rejected.
        self.field = field


class NotFound(Error, LookupError):
    """The item the operation needs does not exist (or has expired)."""

    kind = "not_found"


class Conflict(Error):
    """A conditional write lost: the item was not in the required state."""

    kind = "conflict"


class TooLarge(Error, ValueError):
    """The item would exceed DynamoDB's 400 KB item limit; nothing was written."""

    kind = "too_large"

    def __init__(self, message: str, size: int | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        #: The item's size in bytes.
        self.size = size
        #: The limit in bytes.
        self.limit = limit


class MissingTable(Error):
    """A table the operation needs does not exist; run ``init_tables()``."""

    kind = "missing_table"


class MissingIndex(Error):
    """A secondary index a read needs does not exist; ``init_tables()`` creates it."""

    kind = "missing_index"


class SchemaDrift(Error):
    """The live schema differs from the declared one beyond in-place repair."""

    kind = "schema_drift"


class Throttled(Error):
    """The store throttled the request and the retry budget ran out."""

    kind = "throttled"
    transient = True


class Unavailable(Error):
    """The store could not be reached; the same call may succeed later."""

    kind = "unavailable"
    transient = True


class Corrupt(Error):
    """Stored data could not be decoded."""

    kind = "corrupt"


class Backend(Error):
    """Any other backend failure; permanent."""

    kind = "backend"
