"""The project's error hierarchy.

Every error that comes from bad input names the file (or store path) and what is wrong
with it, so a batch stage can record the reason beside the reject and carry on.
"""

from __future__ import annotations

from pathlib import Path


class InterMimicError(Exception):
    """Base of every error this project raises on purpose."""


class InputError(InterMimicError):
    """A file or value given to us is unusable. ``path`` names it when there is one."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class ReadError(InputError):
    """The file could not be read or decoded in the named format."""


class ValidationError(InputError):
    """The file decoded, but its content breaks a rule of the canonical clip."""


class DuplicateError(InputError):
    """The same content was already ingested under another clip id."""


class UnknownFormatError(InterMimicError):
    """No reader is registered under the requested format name."""


class StoreError(InterMimicError):
    """The store cannot be read or written (layout, permissions, unknown names)."""


class UnsafeNameError(StoreError):
    """A dataset, subject or clip name would escape the store or is not a plain name."""


class StoreUnavailableError(StoreError):
    """The store cannot be read or written at all (damaged data, no permission, no space):
    every command ends with exit status 2 and one line saying so."""


class StoreDamagedError(StoreUnavailableError):
    """Data at rest is damaged: a file of the store is missing, unreadable or fails its
    checksum. ``path`` names the file; the message says what is wrong, on one line."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.reason = message
        text = f"{self.path}: {message}" if self.path else message
        super().__init__(" ".join(text.split()))
