"""The one error type for user mistakes, shared by every layer."""
from __future__ import annotations


class InputError(Exception):
    """A mistake in a file or argument the user gave; str() is one line naming where and the fix.

    Commands print it as `error: <message>` and exit 2: never a traceback for bad input.
    """


def shown(value: object, limit: int = 40) -> str:
    """A value quoted for an error message and cut short: never echo a 100 KB string back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"
