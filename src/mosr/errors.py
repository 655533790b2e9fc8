"""Exceptions with messages that name the bad value and the fix."""

from __future__ import annotations


class MosrError(Exception):
    """Base class for every error mosr raises on bad input or a missing resource.

    The CLI prints these without a traceback, so the message must say what failed,
    on which value, and what to do next.
    """


class ConfigError(MosrError, ValueError):
    """Invalid configuration value or option."""


class DataError(MosrError, ValueError):
    """Missing, malformed or inconsistent benchmark data."""


class LeakError(DataError):
    """A training prompt also occurs in an evaluation set."""


class ModelError(MosrError):
    """A model or adapter that cannot be found or loaded."""


class PromptTooLongError(MosrError, ValueError):
    """A rendered prompt does not fit in the model's context window."""
