"""Exceptions with messages that name the file and the problem."""


class DataError(ValueError):
    """A data file or folder is missing, unreadable or inconsistent; the message names it."""
