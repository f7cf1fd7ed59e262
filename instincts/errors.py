"""One error hierarchy: catch ``InstinctsError`` for anything the engine rejects on purpose.

Each error keeps the builtin base its callers caught before, so ``except ValueError`` still
works: ``InvalidArgument`` is both a ValueError and a TypeError (a bad value and a bad type are
the same mistake to a caller), ``ClaimsFileError`` a ValueError. Messages name the argument or
file, the value given and what would be allowed.
"""

from __future__ import annotations


class InstinctsError(Exception):
    """Base of the errors the engine raises on purpose."""


class InvalidArgument(InstinctsError, ValueError, TypeError):
    """A bad argument: the message says which, what was given, and what is allowed."""


class ClaimsFileError(InstinctsError, ValueError):
    """An unusable claims.json (missing, malformed, another schema): names the file and the field."""


class ReportError(InstinctsError):
    """The HTML report could not be made; ``exit_code`` 2 means unusable input, 1 a failing tool."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class CacheWarning(UserWarning):
    """A run-cache entry could not be used (corrupt or unreadable); it is recomputed."""
