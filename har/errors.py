"""The one base class of every error a user can cause: bad params, a bad or missing input file,
an unreachable download. A leaf (standard library only), so any module can import it.

Entry points catch `HarError` alone (har/stage.py for the DVC stages, har/cli.py for `har`)
and print its message, which names the file or the key and the problem, as one line;
anything else is a bug in har and keeps its traceback.

Each error class also derives from the built-in exception it used to be (ValueError for a
bad value, FileNotFoundError for a missing file, ...), so `except ValueError` around a
library call keeps working.
"""

from __future__ import annotations


class HarError(Exception):
    """An expected failure caused by the input or the params; the message says which and why."""


class InputError(HarError, ValueError):
    """A value that cannot be used: a params entry, an argument, a file's content."""


class MissingFileError(HarError, FileNotFoundError):
    """A file or folder the step needs is not there; the message says what produces it."""
