"""Exceptions the library raises for bad user input (shown by the CLI as one clear line)."""
from __future__ import annotations


class JaxPelsVaeError(Exception):
    """Base class of the library's own errors."""


class DataError(JaxPelsVaeError, ValueError):
    """A light-curve file or table cannot be used; the message names the file, star and rule."""


class ConfigError(JaxPelsVaeError, ValueError):
    """A configuration value is out of range or inconsistent."""


class CheckpointError(JaxPelsVaeError, ValueError):
    """A checkpoint cannot be read back (truncated, corrupted or of another model)."""


class OutputError(JaxPelsVaeError, ValueError):
    """An output folder or file cannot be written (a file where a folder is wanted, no write
    permission) or is in use by another command."""
