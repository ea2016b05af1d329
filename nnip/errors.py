"""The errors that mean *bad input*, not a bug: ``nnip`` prints their message on one line and exits with code 2.

Every message names the file, the row, the key or the value that is wrong (``nnip.data.DataError`` for data files,
:class:`ConfigError` for configuration keys and model hyper-parameters, :class:`StoreError` for a run store that
cannot be written). Any other exception is a bug: the command line shows its traceback (``--debug`` shows it for
these too).
"""

from __future__ import annotations

__all__ = ["UserError", "ConfigError", "StoreError"]


class UserError(Exception):
    """Bad input from the user (a file, a key, a value); the message says which and what is wrong."""


class ConfigError(UserError, ValueError):
    """An invalid or unknown configuration key/value; the message names the dotted key (and the file, if any)."""


class StoreError(UserError, OSError):
    """A run store that cannot be written (read-only or full file system, permissions); names the path.

    The store is left as it was: writes go to temporary files that are removed when a write fails.
    """
