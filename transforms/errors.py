"""Errors that stop a run with one clear line and exit code 2."""


class InputError(Exception):
    """Bad input or usage: the message names the file or option and what to do."""
