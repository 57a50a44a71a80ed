"""Errors a user can act on.

Every error raised for bad input or a failed collection is an ``NhiauditError``; the CLI
prints its one-line message (no traceback) and exits with code 2.
"""

from __future__ import annotations

from pathlib import Path


class NhiauditError(Exception):
    """A problem the user can fix: bad input, bad option, unreadable file."""

    def __init__(self, message: str, *, source: str | Path | None = None) -> None:
        self.source = str(source) if source is not None else None
        self.problem = message
        super().__init__(f"{self.source}: {message}" if self.source else message)


class InputError(NhiauditError):
    """An input file is malformed, truncated or of the wrong kind."""


class PolicyError(InputError):
    """A policy document cannot be evaluated (unknown element, bad effect, ...)."""


class CollectionError(NhiauditError):
    """Nothing could be collected from a provider."""
